"""Market data carried through the engine.

The hot path moves events in :class:`MarketBatch`, a struct of parallel lists, so a venue adapter
hands the engine thousands of normalized events per call with no per-event objects. Book events
are absolute level updates ("the size at this price is now N"; 0 removes the level).
"""

from __future__ import annotations

from dataclasses import dataclass

# Event kinds in a MarketBatch.
BOOK_LEVEL = 0
"""Set the size at a price level; ``size == 0`` removes the level."""
TRADE = 1
"""A trade printed; ``side`` is the aggressor."""
BOOK_CLEAR = 2
"""Drop the instrument's whole book (a snapshot follows as BOOK_LEVEL events)."""

# Sides.
BID = 0
"""Book side bid, or a buyer-initiated (aggressive buy) trade."""
ASK = 1
"""Book side ask, or a seller-initiated (aggressive sell) trade."""


class MarketBatch:
    """Normalized market events for many instruments, in arrival order.

    ``instrument`` holds indexes into the engine's instrument table (``MarketState.index_of``).
    """

    __slots__ = ("instrument", "kind", "price", "side", "size", "ts_event")

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.instrument: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.size: list[int] = []
        self.ts_event: list[int] = []

    def __len__(self) -> int:
        return len(self.kind)

    def append(self, kind: int, instrument: int, side: int, price: int, size: int, ts: int) -> None:
        self.kind.append(kind)
        self.instrument.append(instrument)
        self.side.append(side)
        self.price.append(price)
        self.size.append(size)
        self.ts_event.append(ts)

    def extend(self, other: MarketBatch) -> None:
        self.kind.extend(other.kind)
        self.instrument.extend(other.instrument)
        self.side.extend(other.side)
        self.price.extend(other.price)
        self.size.extend(other.size)
        self.ts_event.extend(other.ts_event)

    def clear(self) -> None:
        for column in (self.kind, self.instrument, self.side, self.price, self.size, self.ts_event):
            column.clear()


@dataclass(slots=True)
class Bar:
    """An OHLCV bar in raw units; ``ts_open`` is the start of its interval (ns UTC)."""

    ts_open: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int
