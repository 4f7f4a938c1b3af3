"""The vector path: a parameter set of a signal-API strategy evaluated without the event loop.

:class:`VectorPath` (one per optimizer worker) loads the recording as arrays once
(:mod:`engine.optimize.vector_tape`), then per parameter set: asks the strategy class for its
signals, plays them on the compiled fill model (:mod:`engine.optimize.vector_fills`), proves the
risk rules never fired (:mod:`engine.optimize.vector_risk`), prices the fills (taker fee, the
KRX sell tax) and computes the same metrics a backtest summary holds, from the same functions.

Anything it cannot prove equal to the event path raises
:class:`~engine.optimize.vector_signals.VectorRefusal` with the reason; the caller runs the
event path instead. :func:`first_difference` compares two fill lists for the sampled re-check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine.backtest.metrics import EquitySampler, curve_metrics, trade_stats
from engine.backtest.trades import FillRecord, exposure_ns, round_trips
from engine.config.settings import Settings
from engine.domain.fees import FeeRate
from engine.domain.fixed_point import from_raw
from engine.domain.orders import OrderSide
from engine.domain.positions import Position
from engine.optimize.objective import TrialMetrics
from engine.optimize.vector_fills import (
    O_BOOK,
    O_COLUMNS,
    O_DUE,
    O_PRICE,
    O_QUANTITY,
    O_SIDE,
    O_TRADE,
    OK,
    STATUS_TEXT,
    simulate,
)
from engine.optimize.vector_risk import RiskProof, check_settings
from engine.optimize.vector_signals import (
    FLOAT_EXACT,
    Signals,
    VectorRefusal,
    declares_signals,
    resolved_params,
)
from engine.optimize.vector_tape import MarketTape, cached_market_tape, count_trades
from engine.storage.tick_store import TickStore
from engine.strategy.api import Strategy

EQUITY_INTERVAL_NS = 60 * 1_000_000_000
"""``BacktestRequest.equity_interval_s``'s default, which the optimizer's trials use."""


@dataclass(frozen=True, slots=True)
class VectorResult:
    """One parameter set on the vector path."""

    fills: list[FillRecord]
    metrics: TrialMetrics
    orders: int
    trades: int
    """Trades of the tape (what the strategy saw)."""
    wall_s: float


class VectorPath:
    """The vector path of one study in one worker (see the module docstring)."""

    def __init__(
        self,
        strategy_cls: type[Strategy],
        settings: Settings,
        data_dir: str,
        instruments: Sequence[str],
        start: str | None,
        end: str | None,
    ) -> None:
        self.strategy_cls = strategy_cls
        self.settings = settings
        self.data_dir = data_dir
        self.instruments = list(instruments)
        self.start, self.end = start, end
        self._tape: MarketTape | None = None
        self._refusal: str | None = None
        self._samples: list[int] = []
        self._trades: int | None = None
        self._orders: np.ndarray[Any, Any] | None = None
        self._store = TickStore(Path(data_dir))

    def refusal(self) -> str | None:
        """Why no trial of this study can take the vector path (None: it may; each trial can
        still be refused for its own reasons)."""
        if self._tape is None and self._refusal is None:
            try:
                self._prepare()
            except VectorRefusal as exc:
                self._refusal = str(exc)
        return self._refusal

    def trade_count(self) -> int:
        """Trades a replay of the study delivers (0 when the data cannot be read)."""
        if self._trades is None:
            if self._tape is not None:
                self._trades = len(self._tape.trades)
            else:
                try:
                    self._trades = count_trades(
                        self._store, self._instrument_ids(), self.start, self.end
                    )
                except (ValueError, OSError):
                    self._trades = 0
        return self._trades

    def _instrument_ids(self) -> list[str]:
        recorded = self._store.instrument_ids()
        return self.instruments or list(self.strategy_cls.instruments) or recorded

    def _prepare(self) -> None:
        if not declares_signals(self.strategy_cls):
            raise VectorRefusal(f"{self.strategy_cls.__name__} declares no signals()")
        tape = cached_market_tape(self._store, self._instrument_ids(), self.start, self.end)
        instrument = tape.instrument
        currency = instrument.quote_currency
        self.limits = check_settings(self.settings, currency)
        balance = self.settings.paper.balances.get(currency)
        if balance is None:
            raise VectorRefusal(f"[paper] balances has no {currency} balance")
        self.initial = Decimal(balance)
        top = int(max(tape.trades.price.max(initial=0), tape.ask.max(), tape.bid.max()))
        if top * 20_000 >= FLOAT_EXACT:
            raise VectorRefusal(f"prices up to {top} are too large for exact float comparisons")
        self.latency_ns = int(self.settings.paper.order_latency_ms * 1_000_000)
        self._samples = _sample_batches(tape.batch_ts)
        marks = tape.mark[tape.mark > 0]
        self.price_span = int(marks.max() - marks.min()) if len(marks) else 0
        self._tape = tape

    @property
    def tape(self) -> MarketTape:
        if self.refusal() is not None or self._tape is None:
            raise VectorRefusal(self._refusal or "no tape")
        return self._tape

    def run(self, params: Mapping[str, Any]) -> VectorResult:
        """Evaluate one parameter set; VectorRefusal when equality cannot be promised."""
        tape = self.tape
        started = time.perf_counter()
        try:
            values = resolved_params(self.strategy_cls, params)
        except ValueError as exc:  # the event path reports it in its own words
            raise VectorRefusal(f"parameters: {exc}") from None
        method = cast(Any, self.strategy_cls).signals
        try:
            signals: Signals = method(tape.trades, values)
        except ValueError as exc:  # e.g. parameters the strategy rejects: the event path says
            raise VectorRefusal(f"signals(): {exc}") from None
        count = len(tape.trades)
        signals.check(count)
        orders = self._simulate(tape, signals)
        fills = self._fills(tape, orders)
        metrics = self._metrics(tape, fills)
        return VectorResult(
            fills=fills,
            metrics=metrics,
            orders=len(orders),
            trades=count,
            wall_s=time.perf_counter() - started,
        )

    def _simulate(self, tape: MarketTape, signals: Signals) -> np.ndarray[Any, Any]:
        count = len(tape.trades)
        for name, bps in (("take-profit", signals.take_profit_bps),
                          ("stop-loss", signals.stop_loss_bps)):  # fmt: skip
            if (
                bps is not None
                and int(tape.trades.price.max(initial=0)) * (10_000 + abs(bps)) >= FLOAT_EXACT
            ):
                raise VectorRefusal(f"the {name} level is too large for exact comparisons")
        exits = signals.exits if signals.exits is not None else np.zeros(count, np.bool_)
        ready = signals.ready if signals.ready is not None else np.ones(count, np.bool_)
        if self._orders is None or len(self._orders) != count + 1:
            # Reused across trials: the kernel writes every column of each order it writes.
            self._orders = np.empty((count + 1, O_COLUMNS), np.int64)
        orders = self._orders
        written, status, where = simulate(
            tape.trade_batch,
            tape.trades.price,
            tape.trades.ts,
            tape.batch_ts,
            tape.batch_row_end,
            tape.bid,
            tape.bid_size,
            tape.ask,
            tape.ask_size,
            tape.row_kind,
            tape.row_side,
            tape.row_price,
            tape.row_size,
            np.ascontiguousarray(signals.entries, np.bool_),
            np.ascontiguousarray(exits, np.bool_),
            np.ascontiguousarray(ready, np.bool_),
            np.ascontiguousarray(signals.quantity, np.int64),
            -1.0 if signals.take_profit_bps is None else float(signals.take_profit_bps),
            -1.0 if signals.stop_loss_bps is None else float(signals.stop_loss_bps),
            int(signals.max_hold_ns),
            int(signals.cooldown_ns),
            self.latency_ns,
            orders,
        )
        if status != OK:
            raise VectorRefusal(
                f"{STATUS_TEXT[status]} (trade {where} at ts {int(tape.trades.ts[where])})"
            )
        return orders[:written].copy()

    def _fills(self, tape: MarketTape, orders: np.ndarray[Any, Any]) -> list[FillRecord]:
        instrument = tape.instrument
        proof = RiskProof(self.limits, instrument, self.initial)
        taker = FeeRate(instrument.taker_fee)
        tax = instrument.sell_tax
        scale = instrument.price_precision + instrument.size_precision
        position = Position(str(instrument.id))
        fills: list[FillRecord] = []
        for number, row in enumerate(orders.tolist()):
            buy = row[O_SIDE] == 0
            batch = int(tape.trade_batch[row[O_TRADE]])
            opposite = int(tape.ask[batch] if buy else tape.bid[batch])
            proof.order(buy, opposite, row[O_QUANTITY], int(tape.batch_ts[batch]), row[O_TRADE])
            if row[O_BOOK] < 0:
                continue  # still on its way when the recording ended
            price, quantity, ts = row[O_PRICE], row[O_QUANTITY], row[O_DUE]
            fee = taker.fee_raw(price * quantity)
            if tax is not None and not buy:
                fee += tax.tax_raw(price * quantity, ts, scale)
            realized_before = position.realized_raw
            position.apply_fill(OrderSide.BUY if buy else OrderSide.SELL, price, quantity, fee, ts)
            proof.fill(buy, price, quantity, fee, position.realized_raw - realized_before)
            fills.append(
                FillRecord(
                    ts=ts,
                    client_order_id=f"V{number + 1}",
                    strategy_id="vector",
                    instrument_id=str(instrument.id),
                    side="buy" if buy else "sell",
                    price_raw=price,
                    quantity_raw=quantity,
                    fee_raw=fee,
                    liquidity="taker",
                    price_precision=instrument.price_precision,
                    size_precision=instrument.size_precision,
                )
            )
        proof.prove_no_kill(self.price_span)
        return fills

    def _metrics(self, tape: MarketTape, fills: list[FillRecord]) -> TrialMetrics:
        """The summary's figures as :mod:`engine.backtest.run` computes them: equity sampled
        at the same batches, from the same position arithmetic and the same functions."""
        instrument = tape.instrument
        scale = instrument.price_precision + instrument.size_precision
        position = Position(str(instrument.id))
        held = False
        points: list[int] = []
        equity: list[float] = []
        next_fill = 0
        initial_raw = self.initial.scaleb(scale)
        # float(Decimal) and int / int are both the correctly rounded value of the same exact
        # number when the initial balance is whole at this scale: the integer path is cheaper.
        exact = initial_raw == initial_raw.to_integral_value()
        unit = 10**scale
        batch_ts, marks = tape.batch_ts, tape.mark
        for batch in self._samples:
            ts = int(batch_ts[batch])
            while next_fill < len(fills) and fills[next_fill].ts <= ts:
                _apply(position, fills[next_fill])
                held = True
                next_fill += 1
            points.append(ts)
            if exact and held:
                raw = position.realized_raw - position.fees_raw
                raw += position.unrealized_raw(int(marks[batch]))
                equity.append((int(initial_raw) + raw) / unit)
            else:
                equity.append(float(self._equity(position, held, int(marks[batch]), scale)))
        first, last = int(batch_ts[0]), int(batch_ts[-1])
        for fill in fills[next_fill:]:  # none: every fill is due by the last batch
            _apply(position, fill)
            held = True
        final = self._equity(position, held, int(marks[-1]), scale)
        span = max(0, last - first)
        trades, _ = round_trips(fills)
        pnl_of = {id(trade): float(trade.pnl) for trade in trades}
        curve = curve_metrics(points, equity, span)
        stats = trade_stats(trades, exposure_ns(fills, last), span, pnl_of)
        return TrialMetrics(
            total_return=curve.total_return,
            sharpe=curve.sharpe,
            sortino=curve.sortino,
            max_drawdown=curve.max_drawdown,
            profit_factor=stats.profit_factor,
            trades=stats.trades,
            win_rate=stats.win_rate,
            pnl=str(final - self.initial),
            ticks=tape.events,
        )

    def _equity(self, position: Position, held: bool, mark: int, scale: int) -> Decimal:
        """``_Run._equity``: the initial balance plus the position's PnL (once it exists)."""
        equity = self.initial
        if held:
            raw = position.realized_raw - position.fees_raw + position.unrealized_raw(mark)
            equity += from_raw(raw, scale)
        return equity


def _apply(position: Position, fill: FillRecord) -> None:
    side = OrderSide.BUY if fill.side == "buy" else OrderSide.SELL
    position.apply_fill(side, fill.price_raw, fill.quantity_raw, fill.fee_raw, fill.ts)


def _sample_batches(batch_ts: np.ndarray[Any, Any]) -> list[int]:
    """The batches a backtest samples equity at (:class:`EquitySampler`, then the last)."""
    sampler = EquitySampler(EQUITY_INTERVAL_NS)
    # A sample is due at the first batch of an interval: only those can be sampled.
    buckets = batch_ts // EQUITY_INTERVAL_NS
    candidates = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    for batch in candidates.tolist():
        ts = int(batch_ts[batch])
        if ts >= sampler.next_ns:
            sampler.add(ts, float(batch), 0.0)  # the batch number rides in the equity column
    chosen = [int(batch) for batch in sampler.strategy]
    last = len(batch_ts) - 1
    if not chosen or int(batch_ts[chosen[-1]]) != int(batch_ts[last]):
        chosen.append(last)
    return chosen


def first_difference(vector: list[FillRecord], event: list[FillRecord]) -> str | None:
    """The first fill (time, side, price, quantity, fee) where two runs differ, named; None
    when they are identical."""
    for number, (a, b) in enumerate(zip(vector, event, strict=False), 1):
        if _key(a) != _key(b):
            return f"fill {number}: vector {_text(a)}, event {_text(b)}"
    if len(vector) != len(event):
        number = min(len(vector), len(event)) + 1
        extra = vector[number - 1] if len(vector) > len(event) else event[number - 1]
        where = "vector" if len(vector) > len(event) else "event"
        return (
            f"fill {number}: only the {where} path has it ({_text(extra)}); "
            f"{len(vector)} fills on the vector path, {len(event)} on the event path"
        )
    return None


def _key(fill: FillRecord) -> tuple[object, ...]:
    return (fill.ts, fill.instrument_id, fill.side, fill.price_raw, fill.quantity_raw,
            fill.fee_raw)  # fmt: skip


def _text(fill: FillRecord) -> str:
    price = from_raw(fill.price_raw, fill.price_precision)
    size = from_raw(fill.quantity_raw, fill.size_precision)
    fee = from_raw(fill.fee_raw, fill.scale)
    return f"{fill.side} {size} @ {price} fee {fee} at ts {fill.ts}"
