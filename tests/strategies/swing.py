"""Holds long and short positions in turn (for the hot-loop test of checks put off while a
position is held: equity moving both ways with the mark, near the risk limits)."""

from __future__ import annotations

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy


class Swing(Strategy):
    """Every ``hold`` trades: flat -> buy ``value`` (quote currency) -> flat -> sell short the
    same -> flat, at market."""

    hold = Param(2_000, low=10, high=100_000, step=10, doc="trades between orders")
    value = Param(40_000_000.0, low=10_000.0, high=1e12, step=10_000.0, doc="per entry")

    def on_start(self) -> None:
        self.seen = 0
        self.entries = 0
        self.busy = False

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.seen += 1
        if self.seen % self.hold or self.busy:
            return
        ctx = self.ctx
        self.busy = True  # (a denial comes back through on_order at once, inside the call)
        if ctx.position(i):
            if ctx.close_position(i) is None:
                self.busy = False
            return
        quantity = ctx.size_raw(i, self.value / (price / 10 ** ctx.instrument(i).price_precision))
        if quantity <= 0:
            self.busy = False
            return
        self.entries += 1
        if self.entries % 2:
            ctx.buy(i, quantity)
        else:
            ctx.sell(i, quantity)

    def on_order(self, order: Order) -> None:
        if not order.is_open:
            self.busy = False
