"""The simulator's own order book for one instrument, which writes every change as an event.

Prices live on a precomputed grid: ``grid[i]`` is the i-th valid price (ascending) between a low
and a high bound, so stepping one tick, across tick bands too, is ``i ± 1``. Each side is an array
of sizes indexed like the grid (0 = no level), with the touch and the far end tracked as indexes.
Every mutation appends its event to the attached :class:`MarketBatch` columns, so the emitted
stream replays to exactly this book.

A side never drops below :data:`FLOOR_LEVELS` levels: before a removal would do so, a level is
opened first, in the nearest hole behind the touch (past the far end when there is none).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.tick_table import TickTable

FLOOR_LEVELS = 10
"""No side ever has fewer levels than this once the book is built."""
MAX_SWEEP_LEVELS = 5
"""An aggressive order walks at most this many levels."""


def build_grid(tick_table: TickTable, low_raw: int, high_raw: int) -> list[int]:
    """Every on-grid price in ``[low_raw, high_raw]``, ascending."""
    grid: list[int] = []
    bands = tick_table.bands
    low_raw = max(low_raw, tick_table.min_price_raw)
    for position, (lower, tick) in enumerate(bands):
        upper = bands[position + 1][0] if position + 1 < len(bands) else high_raw + 1
        start = max(lower, low_raw)
        start += -start % tick
        grid.extend(range(start, min(upper, high_raw + 1), tick))
    return grid


class SimBook:
    """Price levels of one simulated instrument, on grid indexes, emitting events as it changes."""

    __slots__ = (
        "_a_inst",
        "_a_kind",
        "_a_price",
        "_a_side",
        "_a_size",
        "_a_ts",
        "_random",
        "ask",
        "best_ask",
        "best_bid",
        "bid",
        "far_ask",
        "far_bid",
        "fresh_size",
        "grid",
        "index",
        "kinds",
        "n_ask",
        "n_bid",
        "trades",
        "ts",
    )

    def __init__(
        self,
        grid: list[int],
        index: int,
        random: Callable[[], float],
        fresh_size: Callable[[], int],
    ) -> None:
        self.grid = grid
        self.index = index
        """The engine's instrument index written into every event."""
        self._random = random
        self.fresh_size = fresh_size
        """Draws the size of a newly opened level."""
        self.bid = [0] * len(grid)
        self.ask = [0] * len(grid)
        self.best_bid = self.far_bid = -1
        self.best_ask = self.far_ask = len(grid)
        self.n_bid = self.n_ask = 0
        self.trades = 0
        """Trade events emitted so far."""
        self.ts = 0
        """Timestamp written into the events of the current action."""
        self.attach(MarketBatch())

    def attach(self, out: MarketBatch) -> None:
        """Write subsequent events into ``out``."""
        self.kinds = out.kind
        self._a_kind = out.kind.append
        self._a_inst = out.instrument.append
        self._a_side = out.side.append
        self._a_price = out.price.append
        self._a_size = out.size.append
        self._a_ts = out.ts_event.append

    def seed_levels(self, best_bid: int, best_ask: int, levels: int) -> None:
        """Build the first book: ``levels`` consecutive levels per side from the touch out."""
        for offset in range(levels):
            self.set_bid(best_bid - offset, self.fresh_size())
            self.set_ask(best_ask + offset, self.fresh_size())

    def levels(self, side: int) -> list[tuple[int, int]]:
        """``(price_raw, size_raw)`` of one side from the touch outward."""
        grid = self.grid
        if side == BID:
            sizes = self.bid
            span = range(self.best_bid, self.far_bid - 1, -1)
        else:
            sizes = self.ask
            span = range(self.best_ask, self.far_ask + 1)
        return [(grid[i], sizes[i]) for i in span if sizes[i]]

    def emit_snapshot(self) -> int:
        """A BOOK_CLEAR then one BOOK_LEVEL per level; returns the number of events."""
        self._emit(BOOK_CLEAR, BID, 0, 0)
        count = 1
        for side in (BID, ASK):
            for price, size in self.levels(side):
                self._emit(BOOK_LEVEL, side, price, size)
                count += 1
        return count

    def _emit(self, kind: int, side: int, price: int, size: int) -> None:
        self._a_kind(kind)
        self._a_inst(self.index)
        self._a_side(side)
        self._a_price(price)
        self._a_size(size)
        self._a_ts(self.ts)

    # --- level changes ------------------------------------------------------------------------

    def set_bid(self, i: int, size: int) -> None:
        """Set the bid size at grid index ``i`` (0 removes; never at or above the best ask)."""
        sizes = self.bid
        old = sizes[i]
        sizes[i] = size
        self._emit(BOOK_LEVEL, BID, self.grid[i], size)
        if old == 0:
            if size:
                self.n_bid += 1
                if i > self.best_bid:  # noqa: PLR1730 (hot path: no call)
                    self.best_bid = i
                if i < self.far_bid or self.far_bid < 0:
                    self.far_bid = i
        elif size == 0:
            self.n_bid -= 1
            if i == self.best_bid:
                while not sizes[i]:
                    i -= 1
                self.best_bid = i
            elif i == self.far_bid:
                while not sizes[i]:
                    i += 1
                self.far_bid = i

    def set_ask(self, i: int, size: int) -> None:
        """Set the ask size at grid index ``i`` (0 removes; never at or below the best bid)."""
        sizes = self.ask
        old = sizes[i]
        sizes[i] = size
        self._emit(BOOK_LEVEL, ASK, self.grid[i], size)
        if old == 0:
            if size:
                self.n_ask += 1
                if i < self.best_ask:  # noqa: PLR1730 (hot path: no call)
                    self.best_ask = i
                if i > self.far_ask or self.far_ask >= len(sizes):
                    self.far_ask = i
        elif size == 0:
            self.n_ask -= 1
            if i == self.best_ask:
                while not sizes[i]:
                    i += 1
                self.best_ask = i
            elif i == self.far_ask:
                while not sizes[i]:
                    i -= 1
                self.far_ask = i

    def remove_bid(self, i: int) -> None:
        """Remove a bid level, first opening another if the side is at its floor."""
        if self.n_bid <= FLOOR_LEVELS:
            self.extend_bids()
        self.set_bid(i, 0)

    def remove_ask(self, i: int) -> None:
        """Remove an ask level, first opening another if the side is at its floor."""
        if self.n_ask <= FLOOR_LEVELS:
            self.extend_asks()
        self.set_ask(i, 0)

    def extend_bids(self) -> None:
        """Open a bid level at the first empty tick below the touch (a hole, else past the end)."""
        sizes = self.bid
        i = self.best_bid - 1
        while i >= 0 and sizes[i]:
            i -= 1
        if i >= 0:
            self.set_bid(i, self.fresh_size())

    def extend_asks(self) -> None:
        """Open an ask level at the first empty tick above the touch (a hole, else past the end)."""
        sizes = self.ask
        i = self.best_ask + 1
        top = len(sizes)
        while i < top and sizes[i]:
            i += 1
        if i < top:
            self.set_ask(i, self.fresh_size())

    # --- trading ------------------------------------------------------------------------------

    def buy(self, limit: int, size: int) -> int:
        """An aggressive buy up to grid index ``limit``: prints trades, returns the rest."""
        asks, grid = self.ask, self.grid
        walked = 0
        while size > 0 and walked < MAX_SWEEP_LEVELS:
            i = self.best_ask
            if i > limit:
                break
            resting = asks[i]
            fill = resting if size >= resting else size
            self._emit(TRADE, BID, grid[i], fill)
            if fill == resting:
                self.remove_ask(i)
            else:
                self.set_ask(i, resting - fill)
            size -= fill
            walked += 1
        self.trades += walked
        return size

    def sell(self, limit: int, size: int) -> int:
        """An aggressive sell down to grid index ``limit``: prints trades, returns the rest."""
        bids, grid = self.bid, self.grid
        walked = 0
        while size > 0 and walked < MAX_SWEEP_LEVELS:
            i = self.best_bid
            if i < limit:
                break
            resting = bids[i]
            fill = resting if size >= resting else size
            self._emit(TRADE, ASK, grid[i], fill)
            if fill == resting:
                self.remove_bid(i)
            else:
                self.set_bid(i, resting - fill)
            size -= fill
            walked += 1
        self.trades += walked
        return size

    def depth_between(self, side: int, start: int, stop: int) -> int:
        """Total resting size on ``side`` between two grid indexes (inclusive, either order)."""
        sizes = self.bid if side == BID else self.ask
        low, high = (start, stop) if start <= stop else (stop, start)
        return sum(sizes[low : high + 1])
