"""Limit orders from trades: bids a tick under a trade when flat, offers a tick over it when
long, and cancels a quote after ``patience`` trades. Orders rest on the paper exchange for long
stretches (the backtest's hot loop must hand those batches to the general path)."""

from __future__ import annotations

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy


class TradeLimits(Strategy):
    """Quote one tick away from each trade; cancel what has not filled after ``patience``."""

    size = Param(0.002, low=0.0, high=1.0, doc="quote size, base currency")
    patience = Param(40, low=1, high=1_000, doc="trades before a quote is cancelled")

    def on_start(self) -> None:
        self.seen = 0
        self.quoted_at = -1
        self.working: str | None = None

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.seen += 1
        ctx = self.ctx
        if self.working is not None:
            if self.seen - self.quoted_at >= self.patience:
                ctx.cancel(self.working)
                self.quoted_at = self.seen  # one cancel per quote
            return
        tick = ctx.instrument(i).tick_table.tick_at(price)
        held = ctx.position(i)
        if held > 0:
            self.working = ctx.sell(i, held, price + tick)
        else:
            self.working = ctx.buy(i, ctx.size_raw(i, self.size), price - tick)
        self.quoted_at = self.seen

    def on_order(self, order: Order) -> None:
        if not order.is_open and order.client_order_id == self.working:
            self.working = None
