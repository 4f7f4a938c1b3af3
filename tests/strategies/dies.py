"""A strategy whose process dies at its first trade (``os._exit``): an optimizer worker crash."""

from __future__ import annotations

import os

from engine.strategy.api import Param, Strategy


class Dies(Strategy):
    """Kills its own process; the optimizer must report it, not hang or print a traceback."""

    window = Param(10, low=10, high=20, step=10, doc="unused: something to search")

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        os._exit(9)
