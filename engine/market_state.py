"""Book, last-trade and bar state per instrument, updated on the hot path.

:meth:`MarketState.apply` consumes a :class:`MarketBatch` with no awaits and no per-event objects:
books are ``dict[price] -> size`` per side with the best price tracked incrementally; trades land
in a fixed ring buffer for the publisher. Readers (the bus publisher, later strategies) compare
``book_seq`` and ``trade_count`` with what they saw last, so nothing on the hot path tracks
"dirty" sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from heapq import nlargest, nsmallest

from engine.bars import BarSeries
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch

TIMEFRAMES = ("1s", "1m", "5m", "15m")

CrossedBook = Callable[["InstrumentState", int, int], None]
"""Told ``(state, best_bid, best_ask)`` of a book that arrived crossed or locked."""


class InstrumentState:
    """Everything the engine knows about one instrument's market right now (raw units)."""

    __slots__ = (
        "asks",
        "bar_1m",
        "bar_1s",
        "bar_5m",
        "bar_15m",
        "bars",
        "best_ask",
        "best_bid",
        "bids",
        "book_depth",
        "book_seq",
        "index",
        "instrument",
        "last_price",
        "last_trade_ns",
        "prev_close",
        "ring_price",
        "ring_side",
        "ring_size",
        "ring_ts",
        "trade_count",
        "ts_event",
        "ts_recv",
        "turnover",
        "volume",
    )

    def __init__(self, index: int, instrument: Instrument, ring: int, bar_history: int) -> None:
        self.index = index
        self.instrument = instrument
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = 0
        """0 when the bid side is empty."""
        self.best_ask = 0
        """0 when the ask side is empty."""
        self.book_seq = 0
        self.book_depth = 0
        """Levels per side to publish (a venue's ``book_depth``); 0: the publisher's default."""
        self.last_price = 0
        self.last_trade_ns = 0
        self.prev_close = 0
        self.volume = 0
        self.turnover = 0
        """Sum of raw price x raw size (scale 10**(price_precision + size_precision))."""
        self.trade_count = 0
        self.ts_event = 0
        """Venue time of the newest event (the venue's clock: shown, never used for age)."""
        self.ts_recv = 0
        """Engine time the newest event was received: what staleness is judged by."""
        self.ring_ts = [0] * ring
        self.ring_price = [0] * ring
        self.ring_size = [0] * ring
        self.ring_side = [0] * ring
        self.bar_1s = BarSeries("1s", bar_history)
        self.bar_1m = BarSeries("1m", bar_history)
        self.bar_5m = BarSeries("5m", bar_history)
        self.bar_15m = BarSeries("15m", bar_history)
        self.bars = {"1s": self.bar_1s, "1m": self.bar_1m, "5m": self.bar_5m, "15m": self.bar_15m}

    def bar_series(self, timeframe: str) -> BarSeries:
        return self.bars[timeframe]

    def top_bids(self, depth: int) -> list[tuple[int, int]]:
        bids = self.bids
        return [(price, bids[price]) for price in nlargest(depth, bids)]

    def top_asks(self, depth: int) -> list[tuple[int, int]]:
        asks = self.asks
        return [(price, asks[price]) for price in nsmallest(depth, asks)]

    def trades_since(self, seen: int) -> tuple[list[tuple[int, int, int, int]], int]:
        """Trades after the first ``seen`` ones, oldest first, and how many fell off the ring."""
        ring = len(self.ring_ts)
        new = self.trade_count - seen
        skipped = max(0, new - ring)
        rows = []
        for n in range(self.trade_count - min(new, ring), self.trade_count):
            slot = n % ring
            rows.append(
                (
                    self.ring_ts[slot],
                    self.ring_price[slot],
                    self.ring_size[slot],
                    self.ring_side[slot],
                )
            )
        return rows, skipped


class MarketState:
    """All instruments' state; instruments are addressed by a dense index on the hot path."""

    # Slots: the backtest's compiled lane writes the two counters at fixed offsets.
    __slots__ = (
        "_bar_history",
        "_guards",
        "_index",
        "_states",
        "_trade_ring",
        "count",
        "events_total",
        "last_event_ns",
        "track_bars",
    )

    def __init__(
        self, *, trade_ring: int = 256, bar_history: int = 120, track_bars: bool = True
    ) -> None:
        self._states: list[InstrumentState] = []
        self.track_bars = track_bars
        """Build the 1 s and 1 min bars the publisher shows; a backtest, which has no screen,
        turns it off (strategies get their bars from the runner either way)."""
        # Keyed by InstrumentId; looked up by any str (same hash and equality), so a caller
        # holding a plain id need not re-validate it.
        self._index: dict[str, int] = {}
        self._trade_ring = trade_ring
        self._bar_history = bar_history
        self.events_total = 0
        self.last_event_ns = 0
        self._guards: dict[int, CrossedBook] = {}
        self.count = 0
        """Instruments registered (``len()`` without a method call, for the hot path)."""

    def guard_book(self, index: int, on_crossed: CrossedBook) -> None:
        """Never hold a crossed or locked book for instrument ``index`` (a venue's).

        When a batch leaves its best bid at or above its best ask, :meth:`apply` clears the book,
        takes the batch's book events of that instrument out of the batch (so nothing applied
        after the market state, the paper exchange and the strategies, sees them) and calls
        ``on_crossed``, which marks the book resyncing and asks its venue for a fresh snapshot.
        Checked once per batch, after the whole batch: a diff that crosses only between its own
        levels is fine.
        """
        self._guards[index] = on_crossed

    def add(self, instrument: Instrument, prev_close_raw: int = 0) -> int:
        """Register an instrument; returns its index for :class:`MarketBatch` events."""
        if instrument.id in self._index:
            return self._index[instrument.id]
        index = len(self._states)
        state = InstrumentState(index, instrument, self._trade_ring, self._bar_history)
        state.prev_close = prev_close_raw
        self._states.append(state)
        self._index[instrument.id] = index
        self.count = len(self._states)
        return index

    def index_of(self, instrument_id: str) -> int:
        return self._index[instrument_id]

    def at(self, index: int) -> InstrumentState:
        return self._states[index]

    def get(self, instrument_id: str) -> InstrumentState | None:
        index = self._index.get(instrument_id)
        return None if index is None else self._states[index]

    def __iter__(self) -> Iterator[InstrumentState]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def instruments(self) -> Iterable[Instrument]:
        return (state.instrument for state in self._states)

    def close_bars(self, now_ns: int) -> None:
        for state in self._states:
            state.bar_1s.close_until(now_ns)
            state.bar_1m.close_until(now_ns)
            state.bar_5m.close_until(now_ns)
            state.bar_15m.close_until(now_ns)

    def apply(self, batch: MarketBatch, recv_ns: int = 0) -> int:
        """Apply every event of ``batch`` in order; returns the number applied.

        ``recv_ns`` is when the engine received the batch (``ts_recv`` of every instrument in
        it); 0 (a replay with no receive times) takes each instrument's newest ``ts_event``.
        A guarded instrument's crossed book is dropped here (:meth:`guard_book`).
        """
        kinds = batch.kind
        if len(kinds) != 1:
            return self._apply_many(batch, recv_ns)
        # One event: most batches of a real feed (one trade, one book message).
        crossed = self.apply_event(
            batch.instrument[0],
            kinds[0],
            batch.side[0],
            batch.price[0],
            batch.size[0],
            batch.ts_event[0],
            recv_ns,
        )
        if crossed is not None:
            self._drop_crossed(batch, [crossed])
        return 1

    @property
    def guarded(self) -> bool:
        """True when some instrument's crossed books are dropped (:meth:`guard_book`)."""
        return bool(self._guards)

    def apply_event(
        self, index: int, kind: int, side: int, price: int, size: int, ts: int, recv_ns: int = 0
    ) -> InstrumentState | None:
        """Apply one event (a batch of one, with no batch): the same updates as the loop in
        :meth:`_apply_many`, with no zip, no loop and no set of instruments.

        Returns the instrument's state when it is guarded and its book is now crossed (the
        caller drops it, see :meth:`apply`); None otherwise."""
        state = self._states[index]
        if kind == TRADE:
            state.last_price = price
            state.last_trade_ns = ts
            state.volume += size
            state.turnover += price * size
            count = state.trade_count
            ring_ts = state.ring_ts
            slot = count % len(ring_ts)
            ring_ts[slot] = ts
            state.ring_price[slot] = price
            state.ring_size[slot] = size
            state.ring_side[slot] = side
            state.trade_count = count + 1
            if self.track_bars:
                state.bar_1s.on_trade(ts, price, size)
                state.bar_1m.on_trade(ts, price, size)
                state.bar_5m.on_trade(ts, price, size)
                state.bar_15m.on_trade(ts, price, size)
        elif kind == BOOK_LEVEL:
            if side == BID:
                bids = state.bids
                if size:
                    bids[price] = size
                    if price > state.best_bid:  # noqa: PLR1730 (a branch beats max() per tick)
                        state.best_bid = price
                elif bids.pop(price, None) is not None and price == state.best_bid:
                    state.best_bid = max(bids) if bids else 0
            else:
                asks = state.asks
                if size:
                    asks[price] = size
                    best = state.best_ask
                    if price < best or not best:
                        state.best_ask = price
                elif asks.pop(price, None) is not None and price == state.best_ask:
                    state.best_ask = min(asks) if asks else 0
            state.book_seq += 1
        elif kind == BOOK_CLEAR:
            state.bids.clear()
            state.asks.clear()
            state.best_bid = state.best_ask = 0
            state.book_seq += 1
        state.ts_event = ts
        state.ts_recv = recv_ns or ts
        self.events_total += 1
        self.last_event_ns = ts
        guards = self._guards
        if guards and index in guards and state.best_bid and state.best_bid >= state.best_ask > 0:
            return state
        return None

    def _apply_many(self, batch: MarketBatch, recv_ns: int) -> int:
        """:meth:`apply` for a batch of any length (the general loop)."""
        states = self._states
        track_bars = self.track_bars
        ts = 0
        for kind, index, side, price, size, ts in zip(
            batch.kind,
            batch.instrument,
            batch.side,
            batch.price,
            batch.size,
            batch.ts_event,
            strict=True,
        ):
            state = states[index]
            if kind == BOOK_LEVEL:
                if side == BID:
                    bids = state.bids
                    if size:
                        bids[price] = size
                        if price > state.best_bid:  # noqa: PLR1730 (a branch beats max() per tick)
                            state.best_bid = price
                    elif bids.pop(price, None) is not None and price == state.best_bid:
                        state.best_bid = max(bids) if bids else 0
                else:
                    asks = state.asks
                    if size:
                        asks[price] = size
                        best = state.best_ask
                        if price < best or not best:
                            state.best_ask = price
                    elif asks.pop(price, None) is not None and price == state.best_ask:
                        state.best_ask = min(asks) if asks else 0
                state.book_seq += 1
            elif kind == TRADE:
                state.last_price = price
                state.last_trade_ns = ts
                state.volume += size
                state.turnover += price * size
                slot = state.trade_count % len(state.ring_ts)
                state.ring_ts[slot] = ts
                state.ring_price[slot] = price
                state.ring_size[slot] = size
                state.ring_side[slot] = side
                state.trade_count += 1
                if track_bars:
                    state.bar_1s.on_trade(ts, price, size)
                    state.bar_1m.on_trade(ts, price, size)
                    state.bar_5m.on_trade(ts, price, size)
                    state.bar_15m.on_trade(ts, price, size)
            elif kind == BOOK_CLEAR:
                state.bids.clear()
                state.asks.clear()
                state.best_bid = state.best_ask = 0
                state.book_seq += 1
            state.ts_event = ts
        count = len(batch.kind)
        if count:
            self.events_total += count
            self.last_event_ns = ts
            instruments = batch.instrument
            touched = set(instruments)  # one-event batches take apply()'s fast path
            guards = self._guards
            if not guards:
                for index in touched:
                    state = states[index]
                    state.ts_recv = recv_ns or state.ts_event
                return count
            crossed = []
            for index in touched:
                state = states[index]
                state.ts_recv = recv_ns or state.ts_event
                if index in guards and state.best_bid and state.best_bid >= state.best_ask > 0:
                    crossed.append(state)
            if crossed:
                self._drop_crossed(batch, crossed)
        return count

    def _drop_crossed(self, batch: MarketBatch, crossed: list[InstrumentState]) -> None:
        """Clear the crossed books and rewrite ``batch`` so their book events are gone."""
        dropped = {state.index for state in crossed}
        columns = (batch.kind, batch.instrument, batch.side, batch.price, batch.size)
        keep = [
            row
            for row, (kind, index) in enumerate(zip(batch.kind, batch.instrument, strict=True))
            if kind == TRADE or index not in dropped
        ]
        for column in (*columns, batch.ts_event):
            column[:] = [column[row] for row in keep]
        for state in crossed:
            bid, ask = state.best_bid, state.best_ask
            state.bids.clear()
            state.asks.clear()
            state.best_bid = state.best_ask = 0
            state.book_seq += 1
            # What comes after the market state sees the book cleared, as after a gap.
            batch.append(BOOK_CLEAR, state.index, BID, 0, 0, state.ts_event)
            self._guards[state.index](state, bid, ask)


__all__ = ["ASK", "BID", "TIMEFRAMES", "InstrumentState", "MarketState"]
