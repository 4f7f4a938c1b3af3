"""A strategy whose trades are known by hand: buy at the n-th trade print, flatten at the m-th."""

from __future__ import annotations

from engine.strategy.api import Param, Strategy


class Scripted(Strategy):
    """Market-buys ``size`` at trade number ``buy_on`` and closes at trade number ``sell_on``."""

    buy_on = Param(1, low=1, high=1000)
    sell_on = Param(3, low=1, high=1000)
    size = Param(0.01, low=0.0, high=10.0)

    def on_start(self) -> None:
        self.trades = 0

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.trades += 1
        if self.trades == self.buy_on:
            self.ctx.buy(i, self.ctx.size_raw(i, self.size))
        elif self.trades == self.sell_on:
            self.ctx.close_position(i)
