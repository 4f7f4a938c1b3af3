"""The backtest driver: recorded ticks through the same runner, risk, OMS and paper exchange as
paper trading, on a clock set from the recording.

For each recorded batch (see :mod:`engine.backtest.replay`), in order:

1. orders falling due on the paper exchange before the batch's time run first (the clock at
   each due time, ``TickPipeline.pump``), as the node's loop cuts its market source there;
2. ``TickPipeline.process_batch`` runs at the batch's ``ts_init``: market state, the paper
   exchange's fills, strategy callbacks, the OMS pump.

While nothing waits on the paper exchange (no order on its way or resting) and the strategy
wants only ``on_trade``, step 2 is :func:`engine.backtest.hot_loop.run_quiet`: the same steps in
the same order, with no batch object (most of a real-shaped day; ``hot_loop=False`` turns it off).

The clock (:class:`ReplayClock`) reads the pipeline's batch time: the time of the step being
processed, which only moves forward; nothing sets a second clock per batch.

The journal is a temporary SQLite file (WAL, not fsynced on commit) removed at the end. Memory is
bounded: one day of ticks (the replay), the equity curve (:class:`EquitySampler`), and the
orders and fills the strategy made.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec

from engine.backtest.checks import initial_equity, instrument_ids, positive_decimal, quote_currency
from engine.backtest.hot_loop import run_quiet
from engine.backtest.metrics import EquitySampler, curve_metrics, trade_stats
from engine.backtest.read_ahead import read_ahead
from engine.backtest.replay import (
    BatchCutter,
    ReplayPlan,
    count_rows,
    instruments_without_book,
    plan_replay,
    replay_chunks,
)
from engine.backtest.request import BacktestRequest, BacktestSummary
from engine.backtest.time_range import parse_time_range
from engine.backtest.trades import FillRecord, RoundTrip, exposure_ns, round_trips
from engine.config.settings import JournalSettings, Settings
from engine.domain.fixed_point import from_raw
from engine.domain.orders import AnyOrderEvent, Order, OrderFilled, OrderStatus
from engine.market_state import MarketState
from engine.oms.oms import Oms
from engine.oms.startup import open_trading_core
from engine.pipeline import BatchClock, TickPipeline
from engine.storage.tick_store import TickStore, day_start_ns
from engine.strategy.api import Strategy
from engine.strategy.context import StrategyBudget
from engine.strategy.loader import load_strategy_class
from engine.strategy.runner import StrategyRunner

Progress = Callable[[int, int], None]
"""Called with (rows replayed, rows in the plan) now and then, and once at the end."""

QUIET_LOGGERS = ("stom.oms",)
"""Per-order log lines (fills, denials) would swamp a backtest; its results hold them all."""


class ReplayClock:
    """The backtest's clock: the time of the batch (or venue step) the pipeline is processing.

    Before the runner exists it reads its own start time; :class:`_Run` then points it at the
    runner's :class:`~engine.pipeline.BatchClock`, which the pipeline moves forward at each step
    (never back), as a :class:`~engine.domain.clock.TestClock` set to each step's time would."""

    __slots__ = ("time",)

    def __init__(self, start_ns: int) -> None:
        self.time = BatchClock(start_ns)

    def now_ns(self) -> int:
        return self.time.ns


@dataclass
class BacktestResult:
    """A finished run: the summary and its tables (rows of plain values)."""

    summary: BacktestSummary
    orders: list[dict[str, object]]
    fills: list[FillRecord]
    trades: list[RoundTrip]
    equity: list[tuple[int, float, float]]
    """(ts, strategy equity, buy-and-hold equity) in the quote currency."""


def run_backtest(
    request: BacktestRequest,
    settings: Settings,
    progress: Progress | None = None,
    *,
    strategy_cls: type[Strategy] | None = None,
    store: TickStore | None = None,
    hot_loop: bool = True,
) -> BacktestResult:
    """Run ``request`` in this process. Bad input raises ValueError naming what is wrong
    (or :class:`~engine.strategy.loader.StrategyLoadError` for a broken strategy file).

    ``store`` replaces the tick store at ``request.data_dir`` (an optimizer's worker passes one
    that keeps the days it has read in memory across trials). ``hot_loop=False`` runs every
    batch through ``TickPipeline.process_batch`` (:mod:`engine.backtest.hot_loop` skipped: the
    tests compare the two)."""
    cls = strategy_cls or load_strategy_class(request.strategy_file, request.strategy_class)
    store = store or TickStore(Path(request.data_dir))
    ids = instrument_ids(request, cls, store)
    instruments = [store.instrument(iid) for iid in ids]
    currency = quote_currency(instruments)
    initial = initial_equity(settings, currency)
    window = parse_time_range(request.start, request.end, request.tz)
    market = MarketState(trade_ring=16, bar_history=2, track_bars=False)
    indexes = [market.add(instrument) for instrument in instruments]
    plan = plan_replay(store, ids, indexes, None, None, window)
    if not plan.days:
        raise ValueError(
            f"no recorded data for {', '.join(ids)} in {request.data_dir} "
            f"between {request.start or 'the first day'} and {request.end or 'the last day'}"
        )
    bookless = instruments_without_book(store, plan)
    if bookless:
        raise ValueError(
            f"{', '.join(bookless)} in {request.data_dir} has trades but no order book between "
            f"{request.start or 'the first day'} and {request.end or 'the last day'}: the paper "
            "fill model fills against the book, so no order could fill; record or import quotes "
            "or book levels with the trades"
        )
    total_rows = count_rows(store, plan)
    with tempfile.TemporaryDirectory(prefix="stom-backtest-") as folder, _quiet():
        run_settings = msgspec.structs.replace(
            settings,
            # A scratch journal: nothing to survive a crash for, so no fsync.
            journal=JournalSettings(file=str(Path(folder) / "journal.sqlite"), synchronous="off"),
        )
        clock = ReplayClock(day_start_ns(plan.days[0]))
        core = open_trading_core(run_settings, market, clock)
        core.oms.report_stale = False  # no risk payload to publish (orders check it themselves)
        core.oms.journal_risk = False  # the journal is scratch: no restart to keep marks for
        try:
            return _Run(request, core.oms, clock, market, cls, ids, currency, initial).run(
                store, plan, total_rows, progress, hot_loop=hot_loop
            )
        finally:
            core.journal.close()


class _Run:
    """One run's state: the runner, the fills it heard of, the equity curve."""

    def __init__(
        self,
        request: BacktestRequest,
        oms: Oms,
        clock: ReplayClock,
        market: MarketState,
        strategy_cls: type[Strategy],
        ids: list[str],
        currency: str,
        initial: Decimal,
    ) -> None:
        self.request = request
        self.oms = oms
        self.clock = clock
        self.market = market
        self.strategy_cls = strategy_cls
        self.ids = ids
        self.currency = currency
        self.initial = initial
        self.fills: list[FillRecord] = []
        self.sampler = EquitySampler(max(1, int(request.equity_interval_s * 1e9)))
        self.hold: list[float] | None = None
        """Buy-and-hold quantities per instrument, fixed at the first sample with every mark."""
        self.hold_cash = float(initial)
        oms.listeners.append(self._on_event)
        self.runner = StrategyRunner(oms, clock)
        clock.time = self.runner.time  # from now on the clock reads the pipeline's time
        self.pipeline = TickPipeline(oms, self.runner, self.runner.time)
        budget = StrategyBudget(
            max_order_notional=positive_decimal(request.max_order_notional, "max_order_notional"),
            max_position_notional=positive_decimal(
                request.max_position_notional, "max_position_notional"
            ),
        )
        self.strategy_id = self.runner.add(strategy_cls, request.params, ids, budget)

    def run(
        self,
        store: TickStore,
        plan: ReplayPlan,
        total_rows: int,
        progress: Progress | None,
        *,
        hot_loop: bool = True,
    ) -> BacktestResult:
        started = time.perf_counter()
        pipeline, sampler, runner = self.pipeline, self.sampler, self.runner
        exchange = self.oms.exchange
        process, pump = pipeline.process_batch, pipeline.pump
        first = last = 0
        ticks = batches = 0
        report_every = max(1, total_rows // 200)
        next_report = report_every
        next_sample = sampler.next_ns
        cut = BatchCutter().cut
        # The next chunk is read on another core while this one runs (read_ahead).
        for chunk in read_ahead(replay_chunks(store, plan)):
            # The batches' bounds as numpy arrays; as lists for the general path once the chunk
            # has its row lists too (BatchCutter makes them after ARRAY_BATCHES batches).
            starts_at, ends_at, inits_at = chunk.starts_array, chunk.ends_array, chunk.inits_array
            count = chunk.count
            j = 0
            while j < count:
                done = run_quiet(pipeline, runner, chunk, j, next_sample) if hot_loop else j
                if done > j:
                    # Quiet batches, in engine.backtest.hot_loop.
                    ticks += int(ends_at[done - 1] - starts_at[j])
                    batches += done - j
                    j = done
                    last = int(inits_at[j - 1])
                else:
                    # The general path: one batch through TickPipeline.process_batch.
                    if chunk.listed:
                        a, b, ts_init = chunk.starts[j], chunk.ends[j], chunk.inits[j]
                    else:
                        a, b, ts_init = int(starts_at[j]), int(ends_at[j]), int(inits_at[j])
                    current = cut(chunk, a, b)
                    if exchange.has_work:  # (a plain attribute: nothing rests or waits, most)
                        due = exchange.next_due_ns
                        while due is not None and due < ts_init:
                            pump(due)
                            due = exchange.next_due_ns
                    process(current, ts_init)
                    ticks += b - a
                    batches += 1
                    j += 1
                    last = ts_init
                if last >= next_sample:  # the first batch always samples (next_ns starts at 0)
                    if not first:
                        first = last
                    self._sample(last)
                    next_sample = sampler.next_ns
                    rows = chunk.rows_before + int(ends_at[j - 1])
                    if progress is not None and rows >= next_report:
                        next_report = rows + report_every
                        progress(rows, total_rows)
        if not sum(state.trade_count for state in self.market):
            # Days with data, but none of it a trade inside the window (a window of an hour
            # with nothing recorded in it): no run, not a run that "made" nothing.
            raise ValueError(
                f"no recorded trades for {', '.join(self.ids)} in {self.request.data_dir} "
                f"between {self.request.start or 'the first day'} and "
                f"{self.request.end or 'the last day'} (days with data were found, but no "
                "trade inside that time range)"
            )
        if last and (not sampler.points or sampler.points[-1] != last):
            self._sample(last)
        if progress is not None:
            progress(total_rows, total_rows)
        wall = time.perf_counter() - started
        return self._result(first, last, ticks, batches, wall)

    # --- during the run -----------------------------------------------------------------------

    def _on_event(self, event: AnyOrderEvent, order: Order) -> None:
        if isinstance(event, OrderFilled):
            instrument = self.oms.instrument(order.instrument_id)
            assert instrument is not None
            self.fills.append(
                FillRecord(
                    ts=event.ts,
                    client_order_id=order.client_order_id,
                    strategy_id=order.strategy_id,
                    instrument_id=order.instrument_id,
                    side=order.side.value,
                    price_raw=event.price_raw,
                    quantity_raw=event.quantity_raw,
                    fee_raw=event.fee_raw,
                    liquidity=event.liquidity,
                    price_precision=instrument.price_precision,
                    size_precision=instrument.size_precision,
                )
            )

    def _sample(self, ts: int) -> None:
        marks = [Oms.mark_price(state) for state in self.market]
        if self.hold is None and all(marks):
            share = float(self.initial) / len(marks)
            self.hold = []
            for state, mark in zip(self.market, marks, strict=True):
                price = float(from_raw(mark, state.instrument.price_precision))
                fee = float(state.instrument.taker_fee)
                quantity = share / (price * (1 + fee))
                self.hold.append(quantity)
                self.hold_cash -= quantity * price * (1 + fee)
        hold_value = self.hold_cash
        if self.hold is not None:
            for state, mark, quantity in zip(self.market, marks, self.hold, strict=True):
                hold_value += quantity * float(from_raw(mark, state.instrument.price_precision))
        self.sampler.add(ts, float(self._equity()), hold_value)

    def _equity(self) -> Decimal:
        equity = self.initial
        for instrument_id, position in self.oms.positions.items():
            state = self.oms.market_state(instrument_id)
            if state is None:
                continue
            scale = state.instrument.price_precision + state.instrument.size_precision
            raw = (
                position.realized_raw
                - position.fees_raw
                + position.unrealized_raw(Oms.mark_price(state))
            )
            equity += from_raw(raw, scale)
        return equity

    # --- the result ---------------------------------------------------------------------------

    def _result(
        self, first: int, last: int, ticks: int, batches: int, wall: float
    ) -> BacktestResult:
        trades, still_open = round_trips(self.fills)
        span = max(0, last - first)
        sampler = self.sampler
        pnl_of = {id(trade): float(trade.pnl) for trade in trades}
        fees = Decimal(0)
        for fill in self.fills:
            fees += from_raw(fill.fee_raw, fill.scale)
        final = self._equity()
        row = next(r for r in self.runner.rows() if r.strategy_id == self.strategy_id)
        orders = list(self.oms.orders.values())
        request = self.request
        summary = BacktestSummary(
            id=request.result_id or _result_id(request, self.strategy_cls),
            strategy=self.strategy_cls.__name__,
            strategy_file=request.strategy_file,
            params=dict(self.runner.strategy(self.strategy_id).param_values()),
            instruments=self.ids,
            start=request.start,
            end=request.end,
            first_event_ns=first,
            last_event_ns=last,
            currency=self.currency,
            initial_equity=str(self.initial),
            final_equity=str(final),
            pnl=str(final - self.initial),
            fees=str(fees),
            open_position={
                iid: self._size_text(iid, quantity) for iid, quantity in still_open.items()
            },
            metrics=curve_metrics(sampler.points, sampler.strategy, span),
            trade_stats=trade_stats(trades, exposure_ns(self.fills, last), span, pnl_of),
            buy_and_hold=curve_metrics(sampler.points, sampler.buy_hold, span),
            orders=len(orders),
            denied=sum(1 for order in orders if order.status is OrderStatus.DENIED),
            fills=len(self.fills),
            ticks=ticks,
            batches=batches,
            wall_s=round(wall, 3),
            ticks_per_s=round(ticks / wall, 1) if wall > 0 else 0.0,
            created_ns=time.time_ns(),
            strategy_state=row.state if row.error is None else f"{row.state}: {row.error}",
        )
        return BacktestResult(
            summary=summary,
            orders=[_order_row(order) for order in orders],
            fills=self.fills,
            trades=trades,
            equity=list(zip(sampler.points, sampler.strategy, sampler.buy_hold, strict=True)),
        )

    def _size_text(self, instrument_id: str, quantity: int) -> str:
        instrument = self.oms.instrument(instrument_id)
        return instrument.format_size(quantity) if instrument is not None else str(quantity)


# --- helpers ----------------------------------------------------------------------------------


def _result_id(request: BacktestRequest, cls: type[Strategy]) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    digest = hashlib.sha1(msgspec.json.encode(request), usedforsecurity=False).hexdigest()[:6]
    return f"{stamp}-{cls.__name__}-{digest}"


def _order_row(order: Order) -> dict[str, object]:
    return {
        "client_order_id": order.client_order_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "side": order.side.value,
        "type": order.order_type.value,
        "tif": order.time_in_force.value,
        "price_raw": order.price_raw,
        "quantity_raw": order.quantity_raw,
        "filled_raw": order.filled_raw,
        "fee_raw": order.fee_raw,
        "status": order.status.value,
        "reason": order.reason or "",
        "ts_created": order.ts_created,
        "ts_last": order.ts_last,
    }


@contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.ERROR, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
