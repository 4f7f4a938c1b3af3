"""A strategy that hears every trade and does nothing (the engine's own per-event cost)."""

from __future__ import annotations

from engine.strategy.api import Strategy


class NoOp(Strategy):
    """Receives ``on_trade`` for every trade of its instruments and ignores it."""

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        pass
