"""The fast sweep path of the two-moving-average strategy: many parameter sets, one replay.

A full backtest calls the strategy, the runner, risk, the OMS and the journal on every event.
This path gives each parameter set the same fills (time, price, quantity, fee) at a fraction of
the cost, by doing only what can change them:

* the book: one real :class:`~engine.market_state.MarketState`, applied once per batch for every
  parameter set (paper orders never change the recorded book);
* the strategy's decisions: found with numpy (:mod:`engine.optimize.fast_signals`) and visited in
  replay order through a heap keyed by the deciding trade's row, so a batch with no decision costs
  nothing per parameter set;
* each order: checked by the same risk rules (:mod:`engine.optimize.fast_risk`), delayed by the
  paper exchange's ``order_latency_ns``, and executed by the real
  :class:`~engine.paper.fill_model.FillModel` (one per parameter set, so consumed liquidity is
  remembered per set and updated by the events that follow, exactly as in a backtest) against the
  book as of its due time: after every batch with ``ts_init <= due``.

The order of operations is the backtest's (:mod:`engine.backtest.run`): orders due before a
batch run first; then the batch updates the book and the fill models; then strategy decisions of
the batch; then orders due by the batch's time. A filled or expired order frees the strategy for
trades of later batches only, as its ``on_order`` runs in the OMS pump after the batch.

Scope: ``tests/strategies/two_ma.py`` (its class and parameter names), market orders, no
strategy budget, no protective exits. Anything the path cannot reproduce raises
:class:`FastPathUnsupported` instead of returning different numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from heapq import heappop, heappush
from pathlib import Path

from engine.backtest.replay import ReplayPlan, plan_replay, replay_batches
from engine.backtest.trades import FillRecord
from engine.config.settings import Settings
from engine.domain.fixed_point import floor_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.domain.orders import AnyOrderEvent, OrderFilled, OrderSide, TimeInForce
from engine.domain.positions import Position
from engine.market_state import MarketState
from engine.optimize.fast_risk import FastRisk, check_settings
from engine.optimize.fast_signals import (
    NOT_FOUND,
    CrossSignals,
    FastPathUnsupported,
    TradeTape,
    read_tapes,
)
from engine.paper.fill_model import NEVER, FillModel
from engine.paper.queue_position import PaperOrder
from engine.risk.money import notional_scale
from engine.storage.tick_store import TickStore
from engine.strategy.api import Param

__all__ = ["FastPathUnsupported", "FastSetResult", "sweep_two_ma"]

PARAM_NAMES = ("fast", "slow", "take_profit_bp", "stop_loss_bp", "notional")
DEFAULTS: dict[str, int | float] = {
    "fast": 20, "slow": 100, "take_profit_bp": 20, "stop_loss_bp": 20, "notional": 1_000_000.0,
}  # fmt: skip
"""The strategy's declared defaults (``TwoMovingAverages``)."""


@dataclass
class FastSetResult:
    """One parameter set's outcome: its fills in time order, as a backtest records them."""

    params: dict[str, int | float]
    fills: list[FillRecord] = field(default_factory=list)
    orders: int = 0
    denied: int = 0


def sweep_two_ma(
    data_dir: str | Path,
    param_sets: Sequence[Mapping[str, int | float]],
    settings: Settings,
    *,
    instruments: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    declared: Mapping[str, Param] | None = None,
) -> tuple[list[FastSetResult], int]:
    """Run every parameter set over the recording in one replay; returns the results (in the
    order given) and the number of events replayed.

    ``declared`` (the loaded strategy class's ``params``) validates each set as the runner does
    (types and bounds, ValueError naming the parameter); without it only the types are checked.
    """
    store = TickStore(Path(data_dir))
    ids = list(instruments) or store.instrument_ids()
    if not ids:
        raise ValueError(f"no recorded instruments in {data_dir}")
    specs = [store.instrument(iid) for iid in ids]
    currencies = {instrument.quote_currency for instrument in specs}
    if len(currencies) != 1:
        raise ValueError(f"instruments are quoted in {', '.join(sorted(currencies))}")
    currency = currencies.pop()
    limits = check_settings(settings, currency)
    initial = Decimal(settings.paper.balances[currency])
    scale = max(notional_scale(instrument) for instrument in specs)
    market = MarketState(trade_ring=16, bar_history=2, track_bars=False)
    indexes = [market.add(instrument) for instrument in specs]
    plan = plan_replay(store, ids, indexes, start, end)
    tapes = read_tapes(store, plan)
    scaled = [tape.price * 10_000 for tape in tapes]
    sets = [
        _Set(number, _params(params, declared), tapes, scaled, indexes, specs,
             FastRisk(limits, currency, initial, scale), market)
        for number, params in enumerate(param_sets)
    ]  # fmt: skip
    sweep = _Sweep(sets, int(settings.paper.order_latency_ms * 1_000_000), market)
    events = sweep.run(store, plan)
    for one in sets:
        one.risk.prove_no_kill(one.unrealized_bound(one.risk.scale))
    return [one.result for one in sets], events


def _params(
    given: Mapping[str, int | float], declared: Mapping[str, Param] | None
) -> dict[str, int | float]:
    unknown = sorted(set(given) - set(PARAM_NAMES))
    if unknown:
        raise FastPathUnsupported(f"the fast path knows no parameter {', '.join(unknown)}")
    if declared is not None:
        missing = sorted(set(PARAM_NAMES) - set(declared))
        if missing:
            raise FastPathUnsupported(f"the strategy declares no {', '.join(missing)}")
        given = {name: declared[name].validate(name, value) for name, value in given.items()}
        values = {name: declared[name].default for name in PARAM_NAMES} | dict(given)
    else:
        values = {**DEFAULTS, **given}
    for name in ("fast", "slow", "take_profit_bp", "stop_loss_bp"):
        value = values[name]
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"parameter {name}: {value!r} is not a whole number")
        values[name] = int(value)
    values["notional"] = float(values["notional"])
    return values


class _Leg:
    """One instrument of one parameter set: the strategy's per-instrument state."""

    __slots__ = ("busy", "entry", "index", "instrument", "position", "previous_above",
                 "signals", "tape")  # fmt: skip

    def __init__(self, index: int, instrument: Instrument, tape: TradeTape, signals: CrossSignals):
        self.index = index
        self.instrument = instrument
        self.tape = tape
        self.signals = signals
        self.position = Position(str(instrument.id))
        self.entry = 0
        self.previous_above = False
        self.busy = False


class _Set:
    """One parameter set: its legs, fill model, risk view and result."""

    def __init__(
        self,
        number: int,
        params: dict[str, int | float],
        tapes: list[TradeTape],
        scaled: list,
        indexes: list[int],
        specs: list[Instrument],
        risk: FastRisk,
        market: MarketState,
    ) -> None:
        self.number = number
        self.result = FastSetResult(params)
        fast, slow = int(params["fast"]), int(params["slow"])
        self.take_profit_bp = int(params["take_profit_bp"])
        self.stop_loss_bp = int(params["stop_loss_bp"])
        self.notional = float(params["notional"])
        self.legs = [
            _Leg(index, spec, tape, CrossSignals(tape, prices_10k, fast, slow))
            for index, spec, tape, prices_10k in zip(indexes, specs, tapes, scaled, strict=True)
        ]
        self.risk = risk
        self.events: list[AnyOrderEvent] = []
        self.model = FillModel(market, self.events, "P")
        self.max_position = [0] * len(self.legs)

    def next_action(self, leg: _Leg, first_trade: int) -> int:
        """The trade index of the leg's next decision from ``first_trade`` on (or NOT_FOUND)."""
        if leg.position.quantity_raw > 0:
            return leg.signals.next_exit(
                first_trade, leg.entry, self.take_profit_bp, self.stop_loss_bp
            )
        return leg.signals.next_entry(first_trade, leg.previous_above)

    def exposure_bound(self, leg: _Leg, highs: list[int], scale: int) -> tuple[int, int]:
        """The other legs' positions and working orders, and their working buys alone, valued
        at their highest prices (integers at ``scale``)."""
        total = locked = 0
        for slot, (other, high) in enumerate(zip(self.legs, highs, strict=True)):
            if other is not leg:
                held = max(other.position.quantity_raw, self.max_position[slot])
                value = high * held * 10 ** (scale - notional_scale(other.instrument))
                total += value
                if other.busy and other.position.quantity_raw <= 0:
                    locked += value
        return total, locked

    def unrealized_bound(self, scale: int) -> int:
        """The most open positions could lose: largest size times the price range."""
        total = 0
        for slot, leg in enumerate(self.legs):
            prices = leg.tape.price
            if len(prices):
                span = int(prices.max()) - int(prices.min())
                factor = 10 ** (scale - notional_scale(leg.instrument))
                total += span * self.max_position[slot] * factor
        return total


class _Sweep:
    """The one replay (see the module docstring for the order of operations)."""

    def __init__(self, sets: list[_Set], latency_ns: int, market: MarketState) -> None:
        self.sets = sets
        self.latency = latency_ns
        self.market = market
        self.actions: list[tuple[int, int, int, int]] = []
        """(replay row of the deciding trade, set number, leg slot, trade index)."""
        self.dues: list[tuple[int, int, int, int, PaperOrder]] = []
        """(due ns, arrival, set number, leg slot, order)."""
        self.arrivals = 0
        self.working: dict[int, tuple[_Set, set[tuple[int, int, int]]]] = {}
        """Sets whose fill model remembers consumed liquidity, with a superset of the levels
        (instrument, book side, price) it remembers: only a batch touching one of those, or
        clearing a book, can change anything in that model (nothing of a set ever rests)."""
        self.highs = [int(leg.tape.price.max()) if len(leg.tape.price) else 0
                      for leg in sets[0].legs] if sets else []  # fmt: skip
        self.orders = 0
        self.mini = MarketBatch()
        """The events of a batch one working fill model needs (refilled per use)."""

    def run(self, store: TickStore, plan: ReplayPlan) -> int:
        for one in self.sets:
            for slot, leg in enumerate(one.legs):
                self._schedule(one, slot, leg, 0)
        apply, actions, dues = self.market.apply, self.actions, self.dues
        events = 0
        for ts_init, batch, rows_end in replay_batches(store, plan):
            rows_start = rows_end - len(batch.kind)
            while dues and dues[0][0] < ts_init:
                self._execute(heappop(dues), rows_start)
            apply(batch)
            events += len(batch.kind)
            if self.working:
                self._update_working(batch)
            while actions and actions[0][0] < rows_end:
                _, number, slot, trade = heappop(actions)
                self._decide(self.sets[number], slot, trade, ts_init)
            while dues and dues[0][0] <= ts_init:
                self._execute(heappop(dues), rows_end)
        return events

    def _update_working(self, batch: MarketBatch) -> None:
        """Give each working fill model the events of ``batch`` that can change it: book updates
        at levels it remembers, and book clears, in order. For a model with nothing resting,
        every other event is a no-op in ``FillModel.on_batch``, so this is the same, cheaper."""
        kinds = batch.kind
        keys = list(zip(batch.instrument, batch.side, batch.price, strict=True))
        clears = BOOK_CLEAR in kinds
        touched = set(keys)
        mini = self.mini
        for number, (one, levels) in list(self.working.items()):
            if not clears and touched.isdisjoint(levels):
                continue
            mini.clear()
            for row, key in enumerate(keys):
                kind = kinds[row]
                if kind == BOOK_CLEAR or (kind == BOOK_LEVEL and key in levels):
                    mini.append(kind, key[0], key[1], key[2], batch.size[row],
                                batch.ts_event[row])  # fmt: skip
            if len(mini):
                one.model.on_batch(mini, NEVER, _nothing_due)
                if not one.model.has_work:
                    del self.working[number]

    def _schedule(self, one: _Set, slot: int, leg: _Leg, first_trade: int) -> None:
        trade = one.next_action(leg, first_trade)
        if trade != NOT_FOUND:
            heappush(self.actions, (int(leg.tape.row[trade]), one.number, slot, trade))

    def _decide(self, one: _Set, slot: int, trade: int, now: int) -> None:
        """The strategy's ``on_trade`` at the deciding trade: buy (flat) or close (long)."""
        leg = one.legs[slot]
        state = self.market.at(leg.index)
        open_orders = sum(1 for other in one.legs if other.busy)
        held = leg.position.quantity_raw
        result = one.result
        if held > 0:
            result.orders += 1
            if one.risk.sell_denied(state, held, now, open_orders):
                result.denied += 1
                self._schedule(one, slot, leg, trade + 1)
                return
            self._send(one, slot, leg, False, held, now)
            return
        leg.previous_above = True
        price = int(leg.tape.price[trade])
        quantity = _size_raw(
            leg.instrument, one.notional / (price / 10**leg.instrument.price_precision)
        )
        if quantity > 0:
            result.orders += 1
            exposure, locked = one.exposure_bound(leg, self.highs, one.risk.scale)
            if one.risk.buy_denied(state, quantity, now, open_orders, exposure, locked):
                result.denied += 1
            else:
                self._send(one, slot, leg, True, quantity, now)
                return
        self._schedule(one, slot, leg, trade + 1)

    def _send(self, one: _Set, slot: int, leg: _Leg, buy: bool, quantity: int, now: int) -> None:
        leg.busy = True
        self.arrivals += 1
        order = PaperOrder(
            f"S{one.number}-{self.arrivals}",
            str(leg.instrument.id),
            is_buy=buy,
            is_market=True,
            time_in_force=TimeInForce.IOC,
            price=0,
            quantity=quantity,
            leaves=quantity,
        )
        order.index = leg.index
        heappush(self.dues, (now + self.latency, self.arrivals, one.number, slot, order))
        if buy:
            one.max_position[slot] = max(one.max_position[slot], quantity)

    def _execute(self, due: tuple[int, int, int, int, PaperOrder], first_row: int) -> None:
        ts, _, number, slot, order = due
        one = self.sets[number]
        leg = one.legs[slot]
        one.model.execute(order, ts)
        side = OrderSide.BUY if order.is_buy else OrderSide.SELL
        instrument = leg.instrument
        levels = None
        if one.model.has_work:
            entry = self.working.get(number)
            levels = entry[1] if entry is not None else set()
            self.working[number] = (one, levels)
        book_side = ASK if order.is_buy else BID
        factor = 10 ** (one.risk.scale - notional_scale(instrument))
        for event in one.events:
            if isinstance(event, OrderFilled):
                if levels is not None:
                    levels.add((leg.index, book_side, event.price_raw))
                price, quantity, fee = event.price_raw, event.quantity_raw, event.fee_raw
                realized = leg.position.apply_fill(side, price, quantity, fee, event.ts)
                one.risk.on_fill(factor, order.is_buy, price, quantity, fee, realized)
                if order.is_buy:
                    leg.entry = price
                one.result.fills.append(
                    FillRecord(
                        ts=event.ts,
                        client_order_id=order.client_order_id,
                        strategy_id="TwoMovingAverages",
                        instrument_id=order.instrument_id,
                        side=side.value,
                        price_raw=price,
                        quantity_raw=quantity,
                        fee_raw=fee,
                        liquidity=event.liquidity,
                        price_precision=instrument.price_precision,
                        size_precision=instrument.size_precision,
                    )
                )
        one.events.clear()
        leg.busy = False
        self._schedule(one, slot, leg, leg.tape.first_at_or_after(first_row))


def _nothing_due(ts: int) -> int:
    return NEVER


def _size_raw(instrument: Instrument, value: float) -> int:
    """``StrategyContext.size_raw``: the size floored to the precision, then to the lot."""
    raw = floor_raw(Decimal(str(value)), instrument.size_precision)
    return raw - raw % instrument.lot_size_raw
