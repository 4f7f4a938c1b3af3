"""A strategy that raises in ``on_trade`` at its third trade (for the isolation test)."""

from __future__ import annotations

from engine.strategy.api import Strategy


class Raiser(Strategy):
    """Counts trades; the third one divides by zero."""

    def on_start(self) -> None:
        self.trades = 0

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.trades += 1
        if self.trades == 3:
            self.trades = self.trades // 0  # RAISES HERE
