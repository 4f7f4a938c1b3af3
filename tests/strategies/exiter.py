"""A strategy that calls ``sys.exit()`` in ``on_trade`` (the engine must only disable it)."""

from __future__ import annotations

import sys

from engine.strategy.api import Strategy


class Exiter(Strategy):
    """Exits the process, or tries to, at its first trade."""

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        sys.exit(3)
