"""Parse and normalize Kiwoom realtime frames into a :class:`MarketBatch` (the hot path).

``0B`` (주식체결) frames become TRADE events; ``0D`` (주식호가잔량) frames carry the whole ten-level
book each time, so the parser keeps the last one per instrument and emits only the levels that
changed (size 0 for a level that left the ten). Kiwoom frames have no sequence numbers; loss is
detected from FID 13, the day's cumulative volume: when a trade's cumulative volume is not the
previous one plus its own volume, trades were missed, so the instrument is marked *resyncing*, its
book is cleared, and the next ``0D`` (a full snapshot) rebuilds it. A reconnect does the same for
every instrument.

Times: FID 20/21 are KST ``HHMMSS``; the date comes from the injected clock (the session is
daytime in Seoul, so the date is never ambiguous).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.venues.kiwoom import wire

_DAY_NS = 86_400 * wire.NS


class InstrumentStream:
    """What the parser remembers about one instrument between frames."""

    __slots__ = ("asks", "bids", "cum_volume", "index", "instrument_id", "resyncing")

    def __init__(self, instrument_id: str, index: int) -> None:
        self.instrument_id = instrument_id
        self.index = index
        self.cum_volume = -1
        """FID 13 of the last trade (-1: none seen since the last (re)subscription)."""
        self.asks: dict[int, int] = {}
        self.bids: dict[int, int] = {}
        self.resyncing = True
        """No trustworthy book yet: set until the first ``0D`` snapshot."""


class RealtimeParser:
    """Frames in, normalized events out; counts gaps. One instance per feed connection set."""

    __slots__ = (
        "_clock_ns",
        "_day_end",
        "_day_start",
        "gaps",
        "on_resync",
        "streams",
        "venue_ns",
    )

    def __init__(
        self,
        streams: dict[str, InstrumentStream],
        clock_ns: Callable[[], int],
        on_resync: Callable[[InstrumentStream, bool], None] | None = None,
    ) -> None:
        self.streams = streams
        """By Kiwoom item code (``005930``)."""
        self._clock_ns = clock_ns
        self._day_start = 0
        self._day_end = 0
        self.gaps = 0
        self.on_resync = on_resync
        """Called with ``(stream, started)`` when an instrument starts or ends resyncing."""
        self.venue_ns = 0
        """Venue time (FID 20/21, whole seconds) of the last event parsed: the venue's clock."""

    def reset(self, out: MarketBatch) -> None:
        """After a (re)connect: every book is cleared and waits for its first snapshot."""
        for stream in self.streams.values():
            stream.cum_volume = -1
            self._start_resync(stream, out)

    def resync(self, stream: InstrumentStream, out: MarketBatch) -> None:
        """Distrust one book (it arrived crossed): cleared now, rebuilt by the next ``0D``."""
        self._start_resync(stream, out)

    def parse(self, frame: wire.Frame, out: MarketBatch) -> int:
        """Append the events of one decoded ``REAL`` frame; returns how many were appended."""
        before = len(out.kind)
        now = self._clock_ns()
        if now >= self._day_end or now < self._day_start:
            self._day_start = wire.kst_midnight_ns(now)
            self._day_end = self._day_start + _DAY_NS
        day = self._day_start
        streams = self.streams
        for item in frame.data:
            stream = streams.get(item.item)
            if stream is None:
                continue
            kind = item.type
            if kind == wire.REAL_TRADE:
                self._trade(stream, item.values, day, out)
            elif kind == wire.REAL_BOOK:
                self._book(stream, item.values, day, out)
        return len(out.kind) - before

    def _trade(
        self, stream: InstrumentStream, values: dict[str, str], day: int, out: MarketBatch
    ) -> None:
        signed = int(values["15"])
        volume = -signed if signed < 0 else signed
        cum = int(values["13"])
        last = stream.cum_volume
        if 0 <= last < cum - volume:
            # Trades between the last one seen and this one were lost.
            self.gaps += 1
            self._start_resync(stream, out)
        stream.cum_volume = cum
        price = int(values["10"])
        ts = self.venue_ns = day + wire.hhmmss_ns(values["20"])
        out.append(TRADE, stream.index, ASK if signed < 0 else BID, -price if price < 0 else price,
                   volume, ts)  # fmt: skip

    def _book(
        self, stream: InstrumentStream, values: dict[str, str], day: int, out: MarketBatch
    ) -> None:
        ts = self.venue_ns = day + wire.hhmmss_ns(values["21"])
        index = stream.index
        asks = _levels(values, wire.ASK_PRICE_FIDS, wire.ASK_SIZE_FIDS)
        bids = _levels(values, wire.BID_PRICE_FIDS, wire.BID_SIZE_FIDS)
        append = out.append
        if stream.resyncing:
            append(BOOK_CLEAR, index, BID, 0, 0, ts)
            for price, size in bids.items():
                append(BOOK_LEVEL, index, BID, price, size, ts)
            for price, size in asks.items():
                append(BOOK_LEVEL, index, ASK, price, size, ts)
            stream.resyncing = False
            if self.on_resync is not None:
                self.on_resync(stream, False)
        else:
            _diff(stream.bids, bids, index, BID, ts, append)
            _diff(stream.asks, asks, index, ASK, ts, append)
        stream.asks = asks
        stream.bids = bids

    def _start_resync(self, stream: InstrumentStream, out: MarketBatch) -> None:
        if not stream.resyncing or stream.bids or stream.asks:
            out.append(BOOK_CLEAR, stream.index, BID, 0, 0, self._clock_ns())
        stream.resyncing = True
        stream.asks = {}
        stream.bids = {}
        if self.on_resync is not None:
            self.on_resync(stream, True)


def _levels(
    values: dict[str, str], price_fids: tuple[str, ...], size_fids: tuple[str, ...]
) -> dict[int, int]:
    levels: dict[int, int] = {}
    get = values.get
    for price_fid, size_fid in zip(price_fids, size_fids, strict=True):
        text = get(price_fid)
        if not text:
            break
        price = int(text)
        if price < 0:
            price = -price
        size = int(get(size_fid) or 0)
        if price and size:
            levels[price] = size
    return levels


def _diff(
    old: dict[int, int],
    new: dict[int, int],
    index: int,
    side: int,
    ts: int,
    append: Callable[[int, int, int, int, int, int], None],
) -> None:
    for price in old:
        if price not in new:
            append(BOOK_LEVEL, index, side, price, 0, ts)
    for price, size in new.items():
        if old.get(price) != size:
            append(BOOK_LEVEL, index, side, price, size, ts)
