"""Upbit frames into the engine's normalized events (raw units, engine instrument indexes).

Books: Upbit sends a full top-N snapshot in every orderbook message. The first snapshot of a
market after (re)subscribing becomes BOOK_CLEAR + every level (a resync); later snapshots become
*level diffs* against the previous one (changed sizes, new levels, removed levels as size 0).
A snapshot differs from the last one in a few levels, so diffs send a handful of events downstream
instead of 60 and the engine's book does a few dict writes instead of a rebuild; the resulting book
is identical to the snapshot either way.

Prices and sizes arrive as JSON numbers (floats). Upbit quotes at most 8 decimal places, and
``round(value * 10**precision)`` is exact for any value whose scaled form is below 2**53 (9e15:
e.g. 90 million coins at 8 decimals), which covers every Upbit price and level size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.venues.upbit.wire import AnyOrderbook, AnyTrade

NS_PER_MS = 1_000_000


class _Market:
    """Per-market conversion factors and the last snapshot seen (wire price -> wire size)."""

    __slots__ = (
        "asks",
        "bids",
        "index",
        "instrument_id",
        "last_ts",
        "price_scale",
        "size_scale",
        "synced",
    )

    def __init__(self, instrument: Instrument, index: int) -> None:
        self.instrument_id = str(instrument.id)
        self.index = index
        self.price_scale = 10**instrument.price_precision
        self.size_scale = 10**instrument.size_precision
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_ts = 0
        self.synced = False


class UpbitNormalizer:
    """Turns decoded trade and orderbook frames into :class:`MarketBatch` events.

    ``on_resynced`` is called with the instrument id when a market's book is restated after
    :meth:`unsync_all` (the feed uses it to clear ``health.resyncing``).
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        index_of: Callable[[str], int],
        on_resynced: Callable[[str], None] | None = None,
    ) -> None:
        self._markets: dict[str, _Market] = {}
        for instrument in instruments:
            market = _Market(instrument, index_of(str(instrument.id)))
            self._markets[instrument.id.symbol] = market
        self._on_resynced = on_resynced
        self.stale_snapshots = 0
        """Orderbook messages older than the last one seen for their market (skipped)."""

    def unsync_all(self) -> list[str]:
        """Forget every book (the connection was lost); returns the affected instrument ids."""
        for market in self._markets.values():
            market.synced = False
            market.last_ts = 0
        return [market.instrument_id for market in self._markets.values()]

    def unsync(self, instrument_id: str) -> bool:
        """Distrust one market's book: its next snapshot restates it (BOOK_CLEAR + levels).

        Every orderbook message is a full snapshot, so the fresh snapshot is simply the next
        message. False when the instrument is not one of ours.
        """
        market = self._markets.get(instrument_id.rpartition(".")[0])
        if market is None:
            return False
        market.synced = False
        market.last_ts = 0
        return True

    def on_trade(self, trade: AnyTrade, out: MarketBatch) -> bool:
        """Append one TRADE; False if the market is not one of ours."""
        market = self._markets.get(trade.code)
        if market is None:
            return False
        out.append(
            TRADE,
            market.index,
            BID if trade.ask_bid == "BID" else ASK,
            round(trade.trade_price * market.price_scale),
            round(trade.trade_volume * market.size_scale),
            trade.trade_timestamp * NS_PER_MS,
        )
        return True

    def on_orderbook(self, book: AnyOrderbook, out: MarketBatch) -> bool:
        """Append the snapshot as a resync or as level diffs; False if skipped."""
        market = self._markets.get(book.code)
        if market is None or book.timestamp < market.last_ts:
            if market is not None:
                self.stale_snapshots += 1
            return False
        market.last_ts = book.timestamp
        ts = book.timestamp * NS_PER_MS
        units = book.orderbook_units
        # Keyed by the wire floats: only levels that changed are converted to raw units.
        bids = {unit.bid_price: unit.bid_size for unit in units if unit.bid_size > 0}
        asks = {unit.ask_price: unit.ask_size for unit in units if unit.ask_size > 0}
        index = market.index
        append = out.append
        price_scale = market.price_scale
        size_scale = market.size_scale
        if not market.synced:
            append(BOOK_CLEAR, index, BID, 0, 0, ts)
            for side, levels in ((BID, bids), (ASK, asks)):
                for price, size in levels.items():
                    append(
                        BOOK_LEVEL, index, side, round(price * price_scale),
                        round(size * size_scale), ts,
                    )  # fmt: skip
            market.synced = True
            market.bids, market.asks = bids, asks
            if self._on_resynced is not None:
                self._on_resynced(market.instrument_id)
            return True
        _diff(market.bids, bids, index, BID, ts, price_scale, size_scale, append)
        _diff(market.asks, asks, index, ASK, ts, price_scale, size_scale, append)
        market.bids, market.asks = bids, asks
        return True


def _diff(
    old: dict[float, float],
    new: dict[float, float],
    index: int,
    side: int,
    ts: int,
    price_scale: int,
    size_scale: int,
    append: Callable[[int, int, int, int, int, int], None],
) -> None:
    get = old.get
    for price, size in new.items():
        if get(price) != size:
            append(
                BOOK_LEVEL, index, side, round(price * price_scale), round(size * size_scale), ts
            )
    for price in old:
        if price not in new:
            append(BOOK_LEVEL, index, side, round(price * price_scale), 0, ts)
