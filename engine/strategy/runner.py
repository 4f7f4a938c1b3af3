"""The strategy runner: hosts several strategies at once over one OMS, live, paper or backtest.

API for the engine node and the backtester (the same calls in both, which is what makes a paper
run and a backtest on the same ticks agree to the unit)::

    runner = StrategyRunner(oms, clock)              # registers itself as an OMS listener
    runner.add(MyStrategy, {"fast": 20}, ["KRW-BTC.SIM"], StrategyBudget(...), "scalper")
    pipeline = TickPipeline(oms, runner, runner.time) # engine.pipeline: the data path
    ...
    pipeline.process_batch(batch, now_ns)             # once per market batch, see below
    runner.disable("scalper"); runner.enable("scalper")
    runner.rows()                                     # per-strategy state, PnL, trades, fees
    saved = runner.save_state()                       # JSON-safe; the caller persists it
    runner.add(..., state=saved.get("scalper"))       # after a restart

The runner is the strategy stage of :class:`~engine.pipeline.TickPipeline`, whose
``process_batch`` is the one order of operations for a batch of market events:
``MarketState.apply`` → the paper exchange's ``on_batch`` (fills against the new events) →
strategies (:meth:`StrategyRunner.dispatch`: ``on_bar`` for bars that closed, ``on_trade`` per
trade of their instruments, ``on_book`` once per instrument whose book changed) → ``Oms.pump``
(orders due on the venue, venue events → ``on_fill``/``on_order``, periodic risk). Strategies
see fills of a batch after their callbacks of that batch, as a live strategy hears of a fill
after the trade that caused it. ``runner.process_batch`` drives a runner alone through a
pipeline of its own (tests do).

Failure isolation (:mod:`engine.strategy.guard`): every call into a strategy (the constructor,
``load_state``, ``on_start``, each callback, ``save_state``) runs under a time budget and a
barrier that catches anything it raises, ``BaseException`` included. An exception, an overrun,
a ``save_state`` that JSON cannot hold or an order storm disables that strategy only: its state
becomes ``failed``, the log names the strategy's file and line and the reason, its open orders
are cancelled, and nothing of it is called again. The others keep going.

Own positions: a strategy's positions and fill count come from the journal's fills of its own
orders (``own_fills`` in :meth:`StrategyRunner.add`), never from a saved snapshot that can lag
them; :meth:`save_state` still writes them, for reading only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.bars import TIMEFRAME_NS, BarSeries
from engine.domain.clock import Clock
from engine.domain.fixed_point import from_raw
from engine.domain.ids import InstrumentId
from engine.domain.market_data import TRADE, MarketBatch
from engine.domain.orders import AnyOrderEvent, Order, OrderFilled
from engine.oms.oms import Oms
from engine.oms.order_requests import ENGINE_ORDER_SOURCES, BadRequest
from engine.pipeline import BatchClock, TickPipeline
from engine.strategy.api import Strategy, StrategyFill
from engine.strategy.context import OmsStrategyContext, StrategyBudget
from engine.strategy.failure_site import construct, failure_site, source_of, stack_site
from engine.strategy.guard import WATCHDOG
from engine.strategy.own_state import (
    checked_state,
    position_dict,
    position_from,
    positions_from_fills,
)

log = logging.getLogger("stom.strategy")

RUNNING = "running"
DISABLED = "disabled"
FAILED = "failed"

STRATEGY_ERRORS = (BaseException,)
"""What a strategy's code may raise and only disable itself with: everything (``sys.exit()``,
``KeyboardInterrupt``, ``GeneratorExit``, a watchdog overrun). See :mod:`engine.strategy.guard`."""

BAR_HISTORY = 500
"""Closed bars kept per instrument and timeframe for strategies."""

_FIRST_ROW = (0,)
"""The trade rows of a one-event batch whose event is a trade."""


@dataclass(frozen=True, slots=True)
class StrategyRow:
    """One strategy for display (the Strategies pane, ``strategy.list``)."""

    strategy_id: str
    name: str
    source: str
    """The strategy's file ('' when unknown)."""
    instruments: list[str]
    state: str
    """``running``, ``disabled`` or ``failed``."""
    params: dict[str, bool | int | float | str]
    pnl: dict[str, Decimal]
    """Realized - fees + unrealized at the mid, per quote currency."""
    realized: dict[str, Decimal]
    unrealized: dict[str, Decimal]
    fees: dict[str, Decimal]
    fills: int
    open_orders: int
    error: str | None = None
    """Why a failed strategy was disabled: ``file:line: Type: message``."""


@dataclass(slots=True)
class _Entry:
    strategy_id: str
    strategy: Strategy
    ctx: OmsStrategyContext
    indexes: tuple[int, ...]
    source: str
    state: str = RUNNING
    started: bool = False
    error: str | None = None
    bars: dict[tuple[int, str], BarSeries] = field(default_factory=dict)


def _overrides(strategy: Strategy, name: str) -> bool:
    return getattr(type(strategy), name) is not getattr(Strategy, name)


class StrategyRunner:
    """Hosts strategies over one OMS (see the module docstring for the API and the order)."""

    def __init__(self, oms: Oms, clock: Clock) -> None:
        self.oms = oms
        self.market = oms.market
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._detached: dict[str, OmsStrategyContext] = {}
        """Contexts of removed strategies: fills of their orders (a cancel racing a fill) still
        move their positions, which the next ``add`` of that id takes over."""
        self._trade_table: list[list[tuple[_Entry, Callable[..., None]]] | None] = []
        self._bar_table: list[list[tuple[_Entry, str, BarSeries]] | None] = []
        self._book_watch: list[tuple[_Entry, int, Callable[[int, int], None]]] = []
        self._book_seen: list[int] = []
        self._unstarted: list[_Entry] = []
        self._bar_index: dict[int, int] = {}
        self._bar_series_count = 0
        self._trade_table_used = False
        self._instrument_count = -1
        self.generation = 0
        """Bumped whenever the dispatch tables are rebuilt (a strategy added, removed, enabled,
        disabled or failed): a loop holding :meth:`quiet_trade_table` asks again when it moved."""
        self.time = BatchClock(clock.now_ns())
        """Time of the batch being processed, shared with the pipeline that drives this runner."""
        self._pipeline: TickPipeline | None = None
        self._rebuild()
        oms.listeners.append(self._on_oms_event)
        WATCHDOG.start()  # budgets in the engine and in backtest workers alike (main thread)

    # --- managing strategies ------------------------------------------------------------------

    def add(
        self,
        strategy_cls: type[Strategy],
        params: Mapping[str, object] | None = None,
        instruments: Sequence[str] = (),
        budget: StrategyBudget | None = None,
        strategy_id: str | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        enabled: bool = True,
        own_fills: Sequence[tuple[Order, OrderFilled]] | None = None,
    ) -> str:
        """Host a new strategy; returns its id. Bad parameters or instruments, or a constructor
        that raises or overruns, raise ValueError naming them (nothing is added). ``state`` is
        what :meth:`save_state` returned for it; ``own_fills`` (the journal's fills of its
        orders, in order) give its positions and fill count.

        ``on_start`` runs at the start of the next :meth:`process_batch`, when the book is there.
        """
        strategy_id = strategy_id or strategy_cls.__name__
        if strategy_id in ENGINE_ORDER_SOURCES:
            # The OMS tells its own orders by these (a failed protective exit fires again only
            # when no order named "exit" still works): a strategy under one would confuse them.
            raise ValueError(
                f"strategy id {strategy_id!r} names the engine's own orders "
                f"({', '.join(sorted(ENGINE_ORDER_SOURCES))}); give the strategy another id"
            )
        if strategy_id in self._entries:
            raise ValueError(f"strategy id {strategy_id!r} is already running")
        names = list(instruments) or list(strategy_cls.instruments)
        if not names:
            raise ValueError(f"strategy {strategy_id}: no instruments given and none declared")
        indexes = tuple(self._index(strategy_id, name) for name in names)
        unknown = [tf for tf in strategy_cls.timeframes if tf not in TIMEFRAME_NS or tf == "1s"]
        if unknown:
            raise ValueError(
                f"strategy {strategy_id}: unknown bar timeframe(s) {', '.join(unknown)}; "
                "use 1m, 5m or 15m"
            )
        ctx = OmsStrategyContext(strategy_id, self.oms, self.time, budget)
        for order in self.oms.open.values():
            if order.strategy_id == strategy_id:
                ctx.open[order.client_order_id] = order
        source = source_of(strategy_cls)
        strategy = construct(strategy_cls, ctx, params, strategy_id, source)
        entry = _Entry(strategy_id, strategy, ctx, indexes, source)
        ctx.on_storm = lambda reason: self._fail_with(entry, f"{stack_site(source)}: {reason}")
        self._entries[strategy_id] = entry
        detached = self._detached.pop(strategy_id, None)
        if detached is not None:  # the same strategy reloaded: its positions as of now
            ctx.positions, ctx.fills = detached.positions, detached.fills
        elif own_fills is not None:
            ctx.positions, ctx.fills = positions_from_fills(self.market, strategy_id, own_fills)
        if state:
            self._restore(entry, state, positions=detached is None and own_fills is None)
        if not enabled or (state and state.get("enabled") is False):
            entry.state = DISABLED if entry.state == RUNNING else entry.state
        if entry.state == RUNNING:
            self._unstarted.append(entry)
        self._rebuild()
        return strategy_id

    def remove(self, strategy_id: str) -> dict[str, Any]:
        """Stop and drop a strategy (its open orders are cancelled); returns its saved state,
        for a hot reload to give to the new version through ``add(..., state=...)``."""
        entry = self._entry(strategy_id)
        saved = self._saved(entry)
        if entry.state == RUNNING:
            self._stop(entry)
        self._cancel_orders(entry)
        del self._entries[strategy_id]
        self._unstarted = [pending for pending in self._unstarted if pending is not entry]
        self._detached[strategy_id] = entry.ctx
        self._rebuild()
        return saved

    def has_detached(self, strategy_id: str) -> bool:
        """True when a removed strategy of this id still has its context (a reload in progress)."""
        return strategy_id in self._detached

    def detached_state(self, strategy_id: str) -> dict[str, Any]:
        """Positions and fills of a removed strategy (empty when it is hosted or unknown)."""
        ctx = self._detached.get(strategy_id)
        if ctx is None:
            return {}
        return {
            "positions": {
                position.instrument_id: position_dict(position)
                for position in ctx.positions.values()
            },
            "fills": ctx.fills,
        }

    def enable(self, strategy_id: str) -> None:
        """Resume a disabled strategy (``on_start`` again). A failed one must be reloaded."""
        entry = self._entry(strategy_id)
        if entry.state == FAILED:
            raise ValueError(f"strategy {strategy_id} failed ({entry.error}); reload it first")
        if entry.state == DISABLED:
            entry.state = RUNNING
            entry.started = False
            self._unstarted.append(entry)
            self._rebuild()

    def disable(self, strategy_id: str) -> None:
        """Stop calling a strategy (``on_stop`` once) and cancel its open orders; its position
        stays (flatten it by hand or with ``close_position``)."""
        entry = self._entry(strategy_id)
        if entry.state == RUNNING:
            self._stop(entry)
            entry.state = DISABLED
            self._rebuild()
            self._cancel_orders(entry)

    def toggle(self, strategy_id: str) -> str:
        """Enable a disabled strategy or disable a running one; returns the new state."""
        entry = self._entry(strategy_id)
        if entry.state == RUNNING:
            self.disable(strategy_id)
        else:
            self.enable(strategy_id)
        return entry.state

    def stop_all(self) -> None:
        """Engine shutdown: ``on_stop`` for every running strategy (orders are left as they are:
        the journal keeps them, and a restart puts them back)."""
        for entry in self._entries.values():
            if entry.state == RUNNING:
                self._stop(entry)

    def set_params(self, strategy_id: str, params: Mapping[str, object]) -> dict[str, Any]:
        """Change parameters of a hosted strategy (all validated first: a bad one changes
        nothing and raises ValueError naming it); returns the values now in use."""
        entry = self._entry(strategy_id)
        declared = type(entry.strategy).params
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ValueError(
                f"strategy {strategy_id}: unknown parameter(s) {', '.join(unknown)}; "
                f"it declares {', '.join(sorted(declared)) or 'none'}"
            )
        values = {name: declared[name].validate(name, value) for name, value in params.items()}
        for name, value in values.items():
            setattr(entry.strategy, name, value)
        return dict(entry.strategy.param_values())

    def ids(self) -> list[str]:
        return list(self._entries)

    def state_of(self, strategy_id: str) -> str:
        return self._entry(strategy_id).state

    def strategy(self, strategy_id: str) -> Strategy:
        return self._entry(strategy_id).strategy

    def context(self, strategy_id: str) -> OmsStrategyContext:
        return self._entry(strategy_id).ctx

    # --- the hot path -------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """Engine time of the batch (or venue step) being processed: strategies' ``now``."""
        return self.time.ns

    @property
    def pipeline(self) -> TickPipeline:
        """A :class:`~engine.pipeline.TickPipeline` with this runner as its strategy stage.

        The node and the backtester build their own (``TickPipeline(oms, runner, runner.time)``);
        this one serves callers that drive a runner alone, through the three methods below.
        """
        if self._pipeline is None:
            self._pipeline = TickPipeline(self.oms, self, self.time)
        return self._pipeline

    def process_batch(self, batch: MarketBatch, now_ns: int) -> None:
        """:meth:`TickPipeline.process_batch <engine.pipeline.TickPipeline.process_batch>`."""
        self.pipeline.process_batch(batch, now_ns)

    def pump(self, now_ns: int) -> None:
        """:meth:`TickPipeline.pump <engine.pipeline.TickPipeline.pump>`."""
        self.pipeline.pump(now_ns)

    def step_source(
        self, step: Callable[[int, MarketBatch], object], batch: MarketBatch, now_ns: int
    ) -> None:
        """:meth:`TickPipeline.step_source <engine.pipeline.TickPipeline.step_source>`."""
        self.pipeline.step_source(step, batch, now_ns)

    def dispatch(self, batch: MarketBatch, now_ns: int) -> None:
        """Strategy callbacks for ``batch`` (already applied to the market state)."""
        if self._instrument_count != self.market.count:
            self._rebuild()  # instruments were added to the market since
        if self._unstarted:
            self._start_pending()
        kinds = batch.kind
        if not self._trade_table_used:
            rows: Sequence[int] = ()
        elif len(kinds) == 1:
            # One event (most batches of a real feed): no search, no list.
            rows = _FIRST_ROW if kinds[0] == TRADE else ()
        elif TRADE in kinds:
            # Trades are a minority of events: list.index finds each one at C speed.
            rows = []
            row = -1
            for _ in range(kinds.count(TRADE)):
                row = kinds.index(TRADE, row + 1)
                rows.append(row)
        else:
            rows = ()
        if rows:
            table = self._trade_table
            bars = self._bar_table
            instruments, prices, sizes = batch.instrument, batch.price, batch.size
            sides, times = batch.side, batch.ts_event
            guard = WATCHDOG
            for row in rows:
                index = instruments[row]
                series = bars[index]
                if series is not None:
                    self._feed_bars(series, times[row], prices[row], sizes[row])
                handlers = table[index]
                if handlers is not None:
                    price, size, side, ts = prices[row], sizes[row], sides[row], times[row]
                    for entry, handler in handlers:
                        # The watchdog's whole hot-path cost: who runs, which call, done.
                        try:
                            guard.owner = entry
                            guard.calls += 1
                            handler(index, price, size, side, ts)
                            guard.owner = None
                        except BaseException as exc:  # the barrier: see engine.strategy.guard
                            guard.owner = None
                            self._fail(entry, "on_trade", exc)
        if self._bar_series_count:
            self._close_bars(now_ns)
        if self._book_watch:
            self._dispatch_books()

    def quiet_trade_table(self) -> list[list[tuple[Any, Callable[..., None]]] | None] | None:
        """The per-instrument ``on_trade`` handlers, when that is all :meth:`dispatch` does for a
        batch of one trade (no instrument added since, no strategy waiting to start, no bars,
        no ``on_book``); None otherwise. Each handler is called as :meth:`dispatch` calls it:
        under the watchdog, and through :meth:`fail` if it raises. The table is updated in
        place; :attr:`generation` says when to ask again."""
        if (
            self._instrument_count != self.market.count
            or self._unstarted
            or self._bar_series_count
            or self._book_watch
        ):
            return None
        return self._trade_table

    def fail(self, entry: Any, callback: str, exc: BaseException) -> None:
        """Disable the strategy of ``entry`` (a handler's first element in
        :meth:`quiet_trade_table`): ``callback`` raised ``exc``."""
        self._fail(entry, callback, exc)

    # --- state across restarts ----------------------------------------------------------------

    def save_state(self) -> dict[str, dict[str, Any]]:
        """Every strategy's ``save_state``, enabled flag and own positions (JSON-safe)."""
        return {strategy_id: self._saved(entry) for strategy_id, entry in self._entries.items()}

    # --- display ------------------------------------------------------------------------------

    def rows(self) -> list[StrategyRow]:
        return [self._row(entry) for entry in self._entries.values()]

    # --- internals: dispatch ------------------------------------------------------------------

    def _feed_bars(
        self, series: list[tuple[_Entry, str, BarSeries]], ts: int, price: int, size: int
    ) -> None:
        for entry, timeframe, bar_series in series:
            bar_series.on_trade(ts, price, size)
            if bar_series.newly_closed:
                self._deliver_bars(entry, timeframe, bar_series)

    def _close_bars(self, now_ns: int) -> None:
        for series in self._bar_table:
            if series is None:
                continue
            for entry, timeframe, bar_series in series:
                bar_series.close_until(now_ns)
                if bar_series.newly_closed:
                    self._deliver_bars(entry, timeframe, bar_series)

    def _deliver_bars(self, entry: _Entry, timeframe: str, series: BarSeries) -> None:
        closed = series.take_closed()
        if entry.state != RUNNING:
            return
        index = self._bar_index[id(series)]
        guard = WATCHDOG
        for bar in closed:
            try:
                guard.owner = entry
                guard.calls += 1
                entry.strategy.on_bar(index, timeframe, bar)
                guard.owner = None
            except BaseException as exc:
                guard.owner = None
                self._fail(entry, "on_bar", exc)
                return

    def _dispatch_books(self) -> None:
        states = self.market
        seen = self._book_seen
        watch = self._book_watch
        guard = WATCHDOG
        for slot, (entry, index, handler) in enumerate(watch):
            state = states.at(index)
            if state.book_seq != seen[slot]:
                seen[slot] = state.book_seq
                if entry.state != RUNNING:
                    continue
                try:
                    guard.owner = entry
                    guard.calls += 1
                    handler(index, state.ts_event)
                    guard.owner = None
                except BaseException as exc:
                    guard.owner = None
                    self._fail(entry, "on_book", exc)
        if self._book_watch is not watch:
            # A strategy failed in the loop and the tables were rebuilt from the sequences seen
            # so far: carry over the ones the rest of the loop saw, or they would be replayed.
            carried = {(id(e), i): s for (e, i, _), s in zip(watch, seen, strict=True)}
            self._book_seen = [
                carried.get((id(e), i), s)
                for (e, i, _), s in zip(self._book_watch, self._book_seen, strict=True)
            ]

    def _on_oms_event(self, event: AnyOrderEvent, order: Order) -> None:
        entry = self._entries.get(order.strategy_id)
        if entry is None:
            detached = self._detached.get(order.strategy_id)
            if detached is not None:
                detached.on_event(event, order)
            return
        entry.ctx.on_event(event, order)
        if entry.state != RUNNING:
            return
        strategy = entry.strategy
        # Nested: a denial reaches on_order inside the strategy's own ctx.buy (an engine section).
        guard = WATCHDOG
        outer = guard.owner
        try:
            guard.owner = entry
            guard.calls += 1
            if isinstance(event, OrderFilled):
                strategy.on_fill(
                    StrategyFill(
                        i=self.market.index_of(order.instrument_id),
                        client_order_id=order.client_order_id,
                        side=order.side,
                        price=event.price_raw,
                        quantity=event.quantity_raw,
                        fee=event.fee_raw,
                        liquidity=event.liquidity,
                        ts=event.ts,
                    )
                )
            strategy.on_order(order)
            guard.owner = outer
        except BaseException as exc:
            guard.owner = outer
            self._fail(entry, "on_fill" if isinstance(event, OrderFilled) else "on_order", exc)

    def _start_pending(self) -> None:
        pending, self._unstarted = self._unstarted, []
        for entry in pending:
            if entry.state != RUNNING or entry.started:
                continue
            entry.started = True
            try:
                WATCHDOG.call(entry, WATCHDOG.load_budget_s, entry.strategy.on_start)
            except BaseException as exc:
                self._fail(entry, "on_start", exc)

    def _rebuild(self) -> None:
        """Rebuild the dispatch tables in place (the hot loop holds references to them)."""
        self.generation += 1
        count = self._instrument_count = len(self.market)
        trade_table: list[list[tuple[_Entry, Callable[..., None]]] | None] = [None] * count
        bar_table: list[list[tuple[_Entry, str, BarSeries]] | None] = [None] * count
        book_watch: list[tuple[_Entry, int, Callable[[int, int], None]]] = []
        bar_index: dict[int, int] = {}
        for entry in self._entries.values():
            if entry.state != RUNNING:
                continue
            strategy = entry.strategy
            wants_trades = _overrides(strategy, "on_trade")
            wants_books = _overrides(strategy, "on_book")
            for index in entry.indexes:
                if wants_trades:
                    trade_table[index] = [*(trade_table[index] or ()), (entry, strategy.on_trade)]
                if wants_books:
                    book_watch.append((entry, index, strategy.on_book))
                for timeframe in type(strategy).timeframes:
                    series = entry.bars.get((index, timeframe))
                    if series is None:
                        series = entry.bars[(index, timeframe)] = BarSeries(timeframe, BAR_HISTORY)
                    bar_index[id(series)] = index
                    bar_table[index] = [*(bar_table[index] or ()), (entry, timeframe, series)]
        self._trade_table[:] = trade_table
        self._bar_table[:] = bar_table
        self._bar_index = bar_index
        self._bar_series_count = len(bar_index)
        self._trade_table_used = any(row is not None for row in (*trade_table, *bar_table))
        old = {(id(entry), index): seen for (entry, index, _), seen in zip(
            self._book_watch, self._book_seen, strict=True)}  # fmt: skip
        self._book_seen = [
            old.get((id(entry), index), self.market.at(index).book_seq)
            for entry, index, _ in book_watch
        ]
        self._book_watch = book_watch

    # --- internals: failure, stop, state ------------------------------------------------------

    def _fail(self, entry: _Entry, callback: str, exc: BaseException) -> None:
        if entry.state == FAILED:
            return
        self._fail_with(
            entry, f"{failure_site(exc, entry.source)} in {callback}: {type(exc).__name__}: {exc}"
        )

    def _fail_with(self, entry: _Entry, error: str) -> None:
        """Disable ``entry`` for good (until reloaded): ``error`` says why, with file:line."""
        if entry.state == FAILED:
            return
        entry.error = error
        entry.state = FAILED
        entry.ctx.halted = error  # a kept reference to ctx sends nothing more
        log.error("strategy %s disabled: %s", entry.strategy_id, entry.error)
        self._rebuild()
        self._cancel_orders(entry)

    def _stop(self, entry: _Entry) -> None:
        try:
            WATCHDOG.call(entry, WATCHDOG.load_budget_s, entry.strategy.on_stop)
        except BaseException as exc:
            self._fail(entry, "on_stop", exc)

    def _cancel_orders(self, entry: _Entry) -> None:
        now = max(self.time.ns, self.clock.now_ns())
        for order in list(entry.ctx.open.values()):
            if order.is_open:
                with contextlib.suppress(BadRequest):  # ended or already being cancelled
                    self.oms.cancel(order.client_order_id, now)

    def _saved(self, entry: _Entry) -> dict[str, Any]:
        strategy_state: dict[str, Any] = {}
        if entry.state != FAILED:
            try:
                returned = WATCHDOG.call(entry, WATCHDOG.load_budget_s, entry.strategy.save_state)
            except BaseException as exc:
                self._fail(entry, "save_state", exc)
            else:
                strategy_state, problem = checked_state(returned)
                if problem is not None:
                    self._fail_with(entry, f"{entry.source}: save_state {problem}")
        return {
            "enabled": entry.state == RUNNING,
            "strategy": strategy_state,
            # Written for reading only: a restart rebuilds them from the journal's fills.
            "positions": {
                position.instrument_id: position_dict(position)
                for position in entry.ctx.positions.values()
            },
            "fills": entry.ctx.fills,
        }

    def _restore(self, entry: _Entry, state: Mapping[str, Any], *, positions: bool) -> None:
        saved_positions = (state.get("positions") or {}) if positions else {}
        for instrument_id, saved in saved_positions.items():
            try:
                index = self.market.index_of(InstrumentId(instrument_id))
            except (KeyError, ValueError):
                log.warning(
                    "strategy %s: saved position on %s dropped: instrument not traded here",
                    entry.strategy_id,
                    instrument_id,
                )
                continue
            entry.ctx.positions[index] = position_from(instrument_id, saved)
        if positions:  # a direct caller without the journal (tests, tools)
            entry.ctx.fills = int(state.get("fills", 0))
        strategy_state = state.get("strategy") or {}
        if strategy_state:
            try:
                WATCHDOG.call(
                    entry, WATCHDOG.load_budget_s, entry.strategy.load_state, strategy_state
                )
            except BaseException as exc:
                self._fail(entry, "load_state", exc)

    def _row(self, entry: _Entry) -> StrategyRow:
        realized: dict[str, Decimal] = {}
        unrealized: dict[str, Decimal] = {}
        fees: dict[str, Decimal] = {}
        for index, position in entry.ctx.positions.items():
            state = self.market.at(index)
            instrument = state.instrument
            scale = instrument.price_precision + instrument.size_precision
            currency = instrument.quote_currency
            for totals, raw in (
                (realized, position.realized_raw),
                (unrealized, position.unrealized_raw(Oms.mark_price(state))),
                (fees, position.fees_raw),
            ):
                totals[currency] = totals.get(currency, Decimal(0)) + from_raw(raw, scale)
        pnl = {
            currency: realized.get(currency, Decimal(0))
            - fees.get(currency, Decimal(0))
            + unrealized.get(currency, Decimal(0))
            for currency in {*realized, *unrealized, *fees}
        }
        return StrategyRow(
            strategy_id=entry.strategy_id,
            name=type(entry.strategy).__name__,
            source=entry.source,
            instruments=[str(self.market.at(index).instrument.id) for index in entry.indexes],
            state=entry.state,
            params=self._param_values(entry),
            pnl=pnl,
            realized=realized,
            unrealized=unrealized,
            fees=fees,
            fills=entry.ctx.fills,
            open_orders=len(entry.ctx.open),
            error=entry.error,
        )

    def _param_values(self, entry: _Entry) -> dict[str, Any]:
        """The strategy's parameter values (its own code may run: under the barrier too)."""
        try:
            values = WATCHDOG.call(entry, WATCHDOG.load_budget_s, entry.strategy.param_values)
            return dict(values)
        except BaseException as exc:
            self._fail(entry, "param_values", exc)
            return {}

    def _entry(self, strategy_id: str) -> _Entry:
        entry = self._entries.get(strategy_id)
        if entry is None:
            known = ", ".join(self._entries) or "none"
            raise ValueError(f"unknown strategy {strategy_id!r}; running: {known}")
        return entry

    def _index(self, strategy_id: str, instrument_id: str) -> int:
        try:
            return self.market.index_of(InstrumentId(instrument_id))
        except (KeyError, ValueError):
            known = ", ".join(str(instrument.id) for instrument in self.market.instruments())
            raise ValueError(
                f"strategy {strategy_id}: unknown instrument {instrument_id!r}; "
                f"this engine has: {known}"
            ) from None
