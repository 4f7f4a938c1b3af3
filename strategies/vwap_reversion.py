"""Mean reversion to VWAP: buy a dip below the rolling VWAP, sell the return to it.

Idea
    Keep the volume-weighted average price of the last ``window_s`` seconds
    (:class:`~engine.indicators.VWAP`). A trade ``entry_bps`` or more below it, with at least
    ``min_trades`` trades in the window, is an overshoot: buy ``order_value`` worth at market and
    wait for the price to come back to the average.

Parameters
    window_s          seconds of trades in the VWAP
    min_trades        trades the window must hold before the VWAP is trusted
    entry_bps         how far below the VWAP (basis points) a trade must print to enter
    order_value       value of each entry, in the quote currency
    take_profit_bps   exit this many basis points above the entry even before the VWAP
    stop_loss_bps     exit this many basis points below the entry
    max_hold_s        exit after this many seconds in any case (0: never)

Exits
    The last price reaching the VWAP (the reversion), take-profit, stop-loss or time: a market
    sell of the whole position. Long only; one position and one working order per instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.domain.orders import Order
from engine.indicators import VWAP
from engine.strategy.api import Param, Strategy, StrategyContext, StrategyFill
from engine.strategy.bracket import BPS, Bracket
from engine.strategy.sizing import quantity_for_value

NS_PER_S = 1_000_000_000


class VwapReversion(Strategy):
    """Buy a dip below the rolling VWAP; sell when the price returns to it."""

    window_s = Param(60.0, low=5.0, high=3_600.0, step=5.0, doc="seconds in the VWAP")
    min_trades = Param(30, low=5, high=1_000, step=5, doc="trades before the VWAP counts")
    entry_bps = Param(15.0, low=2.0, high=300.0, step=1.0, doc="dip below the VWAP, bps")
    order_value = Param(100_000.0, low=5_000.0, high=10_000_000.0, step=5_000.0, doc="per entry")
    take_profit_bps = Param(40.0, low=2.0, high=300.0, step=2.0, doc="take-profit, bps")
    stop_loss_bps = Param(25.0, low=2.0, high=300.0, step=2.0, doc="stop-loss, bps")
    max_hold_s = Param(120.0, low=0.0, high=3_600.0, step=10.0, doc="longest hold, s")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        self.vwap: dict[int, VWAP] = {}
        self.bracket = Bracket(self.take_profit_bps, self.stop_loss_bps, self.max_hold_s)

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        vwap = self.vwap.get(i)
        if vwap is None:
            vwap = self.vwap[i] = VWAP(ns=int(self.window_s * NS_PER_S))
        vwap.update(price, size, side, ts)
        ctx, bracket = self.ctx, self.bracket
        if bracket.busy(i) or vwap.count < self.min_trades:
            return
        average = vwap.value
        if ctx.position(i) > 0:
            if price >= average or bracket.exit_reason(i, price, ts):
                bracket.sent(ctx, i, ctx.close_position(i))
            return
        if price * BPS <= average * (BPS - self.entry_bps):
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
