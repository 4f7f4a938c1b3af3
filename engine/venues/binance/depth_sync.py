"""One symbol's local order book, kept by Binance's official procedure (protocols.md §B.7).

Diff events (``depthUpdate``, ids ``[U; u]``) are buffered until a REST snapshot
(``lastUpdateId``) is applied; buffered events with ``u <= lastUpdateId`` are dropped and the first
remaining one must straddle ``lastUpdateId + 1``, otherwise the snapshot is too old and is fetched
again. From then on every event must start at most one past the last applied id; ``U > last + 1``
is a gap: the book is discarded and rebuilt from a new snapshot. The snapshot may be fetched before
the first event arrives: a snapshot newer than every buffered event simply drops them all, which
keeps a quiet symbol from waiting for its first change before it has a book.

Pure: no I/O. It writes normalized events into a :class:`MarketBatch` (BOOK_CLEAR, then the
snapshot's levels, then the buffered diffs) and leaves fetching to the feed.
"""

from __future__ import annotations

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.venues.binance.wire import DepthUpdate, decimal_to_raw

MAX_BUFFERED = 5_000
"""Diff events kept while waiting for a snapshot (older ones are dropped; the snapshot retries)."""
NS_PER_MS = 1_000_000
PRICE_CACHE = 4096
"""Parsed price texts kept per symbol."""

Level = tuple[str, str]


class DepthSync:
    """The book-sync state of one symbol; ``index`` is the engine's instrument index."""

    __slots__ = (
        "_prices",
        "buffer",
        "index",
        "last_update_id",
        "price_precision",
        "size_precision",
        "synced",
    )

    def __init__(self, index: int, price_precision: int, size_precision: int) -> None:
        self.index = index
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.synced = False
        self.last_update_id = 0
        self.buffer: list[DepthUpdate] = []
        self._prices: dict[str, int] = {}

    def reset(self) -> None:
        """Forget the book (after a reconnect): events buffer until the next snapshot."""
        self.synced = False
        self.buffer.clear()

    def on_update(self, event: DepthUpdate, out: MarketBatch) -> bool:
        """Apply or buffer one diff event; False on a sequence gap (the book is now untrusted).

        Raises ``ValueError`` for unparsable levels before anything is written.
        """
        if not self.synced:
            self.buffer.append(event)
            if len(self.buffer) > MAX_BUFFERED:
                del self.buffer[0]
            return True
        if event.u <= self.last_update_id:
            return True  # already contained in the book
        if self.last_update_id + 1 < event.U:
            self.synced = False
            self.buffer = [event]
            return False
        self._emit_diff(event, out)
        self.last_update_id = event.u
        return True

    def apply_snapshot(
        self,
        last_update_id: int,
        bids: list[Level],
        asks: list[Level],
        ts_ns: int,
        out: MarketBatch,
    ) -> bool:
        """Rebuild the book from a snapshot and the buffered diffs; False if it is too old.

        On False nothing is written and the buffer is kept: fetch a newer snapshot.
        """
        pending = [event for event in self.buffer if event.u > last_update_id]
        last = last_update_id
        for event in pending:
            if last + 1 < event.U:
                return False
            last = event.u
        levels = self._levels(bids, asks)  # parse everything before writing anything
        index = self.index
        out.append(BOOK_CLEAR, index, BID, 0, 0, ts_ns)
        for side, price, size in levels:
            if size:
                out.append(BOOK_LEVEL, index, side, price, size, ts_ns)
        for event in pending:
            self._emit_diff(event, out)
        self.buffer = []
        self.last_update_id = last
        self.synced = True
        return True

    # --- internals ----------------------------------------------------------------------------

    def _levels(self, bids: list[Level], asks: list[Level]) -> list[tuple[int, int, int]]:
        pp, sp = self.price_precision, self.size_precision
        parsed = [(BID, decimal_to_raw(p, pp), decimal_to_raw(q, sp)) for p, q in bids]
        parsed += [(ASK, decimal_to_raw(p, pp), decimal_to_raw(q, sp)) for p, q in asks]
        return parsed

    def _emit_diff(self, event: DepthUpdate, out: MarketBatch) -> None:
        """Append the event's levels; on a bad number, take back what was appended and raise."""
        sp, index, ts = self.size_precision, self.index, event.E * NS_PER_MS
        prices, price_raw = self._prices, self._price_raw
        append, mark = out.append, len(out.kind)
        try:
            for side, levels in ((BID, event.b), (ASK, event.a)):
                for price, size in levels:
                    raw = prices.get(price)
                    if raw is None:
                        raw = price_raw(price)
                    append(BOOK_LEVEL, index, side, raw, decimal_to_raw(size, sp), ts)
        except ValueError:
            for column in (out.kind, out.instrument, out.side, out.price, out.size, out.ts_event):
                del column[mark:]
            raise

    def _price_raw(self, text: str) -> int:
        # Diffs keep naming the same few hundred prices around the touch: parse each once.
        if len(self._prices) >= PRICE_CACHE:
            self._prices.clear()
        raw = self._prices[text] = decimal_to_raw(text, self.price_precision)
        return raw
