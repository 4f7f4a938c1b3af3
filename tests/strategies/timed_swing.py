"""Buy on trade number ``enter_after``, sell ``hold`` trades later: the optimizer's test strategy.

On the dataset of :mod:`tests.support.optimum_data` (a price that falls, rises, then falls) the
best parameters are known by construction: buy at the trough, sell at the peak.
"""

from __future__ import annotations

from engine.strategy.api import Param, Strategy


class TimedSwing(Strategy):
    """One round trip, timed by trade count."""

    enter_after = Param(0, low=0, high=1000, step=100, doc="trades before buying")
    hold = Param(100, low=100, high=1000, step=100, doc="trades to hold")
    notional = Param(1_000_000.0, doc="order value, quote currency")

    def on_start(self) -> None:
        self.seen = 0
        self.entered_at = -1

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        number = self.seen
        self.seen += 1
        if self.entered_at < 0 and number == self.enter_after:
            self.entered_at = number
            self.ctx.buy(i, self.ctx.size_raw(i, self.notional / price))
        elif self.entered_at >= 0 and number == self.entered_at + self.hold:
            self.ctx.close_position(i)
