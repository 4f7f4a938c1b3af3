"""Tick momentum scalper: buy a surge of aggressive buying, get out fast.

Idea
    Over the last ``window`` trades, measure the share of volume that was buyer-initiated
    (:class:`~engine.indicators.BuySellPressure`). When buyers take more than ``threshold`` of it
    (and the window is full), buy ``order_value`` worth at market: a burst of aggressive buying
    tends to carry the price a few ticks further.

Parameters
    window            trades in the pressure window
    threshold         buy share of the window's volume that counts as a surge (0.5 is balanced)
    order_value       value of each entry, in the quote currency (rounded down to the lot size)
    take_profit_bps   exit when the last price is this many basis points above the entry
    stop_loss_bps     exit when it is this many basis points below
    max_hold_s        exit after this many seconds in any case (0: never)
    cooldown_s        wait this long after an exit before the next entry

Exits
    Take-profit, stop-loss or time, whichever comes first: a market sell of the whole position.
    Long only (spot markets); one position and one working order per instrument at a time.

Both forms
    ``on_trade`` is the event form (live, paper, backtest). ``signals`` states the same
    decisions as arrays (``docs/vector-path.md``), which ``stom optimize`` evaluates on the
    vector path and re-checks against the event form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.domain.market_data import BID
from engine.domain.orders import Order
from engine.indicators import BuySellPressure
from engine.optimize.vector_signals import Signals, TradeTape, quantities_for_value, rolling_sum
from engine.strategy.api import Param, Strategy, StrategyContext, StrategyFill
from engine.strategy.bracket import Bracket
from engine.strategy.sizing import quantity_for_value

NS_PER_S = 1_000_000_000


class TickMomentum(Strategy):
    """Buy a burst of aggressive buying; exit on take-profit, stop-loss or time."""

    window = Param(50, low=10, high=500, step=10, doc="trades in the pressure window")
    threshold = Param(0.75, low=0.55, high=0.95, step=0.05, doc="buy share that is a surge")
    order_value = Param(100_000.0, low=5_000.0, high=10_000_000.0, step=5_000.0, doc="per entry")
    take_profit_bps = Param(20.0, low=2.0, high=200.0, step=2.0, doc="take-profit, bps")
    stop_loss_bps = Param(15.0, low=2.0, high=200.0, step=2.0, doc="stop-loss, bps")
    max_hold_s = Param(60.0, low=0.0, high=3_600.0, step=10.0, doc="longest hold, s")
    cooldown_s = Param(5.0, low=0.0, high=600.0, step=1.0, doc="pause after an exit, s")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        self.pressure: dict[int, BuySellPressure] = {}
        self.bracket = Bracket(self.take_profit_bps, self.stop_loss_bps, self.max_hold_s)
        self.resume_at: dict[int, int] = {}

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        pressure = self.pressure.get(i)
        if pressure is None:
            pressure = self.pressure[i] = BuySellPressure(ticks=self.window)
        pressure.update(price, size, side, ts)
        bracket, ctx = self.bracket, self.ctx
        if bracket.busy(i):
            return
        if ctx.position(i) > 0:
            if bracket.exit_reason(i, price, ts):
                bracket.sent(ctx, i, ctx.close_position(i))
                self.resume_at[i] = ts + int(self.cooldown_s * NS_PER_S)
            return
        if (
            pressure.count == self.window
            and pressure.value >= self.threshold
            and ts >= self.resume_at.get(i, 0)
        ):
            ask = ctx.best_ask(i) or price  # a market buy pays the ask
            quantity = quantity_for_value(ctx.instrument(i), ask, self.order_value)
            if quantity > 0:
                bracket.sent(ctx, i, ctx.buy(i, quantity))

    def on_fill(self, fill: StrategyFill) -> None:
        self.bracket.on_fill(self.ctx, fill)

    def on_order(self, order: Order) -> None:
        self.bracket.on_order(self.ctx, order)

    def save_state(self) -> dict[str, Any]:
        return self.bracket.save(self.ctx)

    def load_state(self, state: dict[str, Any]) -> None:
        self.bracket.load(self.ctx, state)

    @classmethod
    def signals(cls, tape: TradeTape, params: Mapping[str, Any]) -> Signals:
        """The same decisions as arrays: the window's buy share (``BuySellPressure``'s float
        division of exact integer sums), the entry sizes at the ask, the bracket's exits."""
        window = int(params["window"])
        sizes = tape.size
        volume = rolling_sum(sizes, window)
        buy_volume = rolling_sum(np.where(tape.side == BID, sizes, 0), window)
        share = np.full(len(sizes), 0.5)
        np.divide(buy_volume, volume, out=share, where=volume != 0)
        full = np.arange(1, len(sizes) + 1) >= window
        ask = np.where(tape.best_ask > 0, tape.best_ask, tape.price)
        return Signals(
            entries=full & (share >= params["threshold"]),
            quantity=quantities_for_value(tape.instrument, ask, params["order_value"]),
            take_profit_bps=params["take_profit_bps"],
            stop_loss_bps=params["stop_loss_bps"],
            max_hold_ns=int(params["max_hold_s"] * 1_000_000_000),
            cooldown_ns=int(params["cooldown_s"] * NS_PER_S),
        )
