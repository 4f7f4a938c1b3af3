"""Fixtures: a Binance loopback server, a feed running into a recording sink, an order client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from engine.config.secrets import Secret
from engine.domain.fixed_point import to_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.venues.base import FeedSink, FeedState
from engine.venues.binance import BinanceFeed, BinanceOrderClient
from engine.venues.binance.loopback import BinanceLoopback
from tests.support.trading_desk import serving

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
API_KEY = "test-binance-key-4f1c9a"
API_SECRET = "test-binance-secret-8d2e7b55"
TIMEOUT_S = 20.0


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll ``condition`` until true (generous timeout: the machine is shared)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Wake:
    """What one ``sink.wake()`` delivered, and which books were untrusted at that moment."""

    events: list[tuple[int, int, int, int, int, int]]
    resyncing: frozenset[str]


@dataclass
class Mirror:
    """The engine's view of the feed: books rebuilt from the sink's events, and every wake."""

    ids: dict[str, int]
    books: dict[int, list[dict[int, int]]] = field(default_factory=dict)
    trades: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    wakes: list[Wake] = field(default_factory=list)

    def apply(self, events: list[tuple[int, int, int, int, int, int]]) -> None:
        for kind, index, side, price, size, ts in events:
            book = self.books.setdefault(index, [{}, {}])
            if kind == BOOK_CLEAR:
                book[0].clear()
                book[1].clear()
            elif kind == BOOK_LEVEL:
                if size:
                    book[side][price] = size
                else:
                    book[side].pop(price, None)
            elif kind == TRADE:
                self.trades.setdefault(index, []).append((side, price, size, ts))

    def levels(self, symbol: str, side: int) -> list[tuple[int, int]]:
        book = self.books.get(self.ids[f"{symbol}.BINANCE"], [{}, {}])[side]
        return sorted(book.items(), reverse=side == 0)


def server_levels(
    server: BinanceLoopback, instrument: Instrument, side: int
) -> list[tuple[int, int]]:
    """The server's published book at the instrument's precisions."""
    levels = server.book(instrument.id.symbol)[side]
    return [
        (to_raw(p, instrument.price_precision), to_raw(q, instrument.size_precision))
        for p, q in levels
    ]


@dataclass
class RunningFeed:
    feed: BinanceFeed
    mirror: Mirror
    instruments: dict[str, Instrument]
    task: asyncio.Task[None]

    def live(self) -> bool:
        return self.feed.health.state is FeedState.LIVE

    async def synced_with(self, server: BinanceLoopback, symbol: str) -> None:
        """Freeze the server's market and wait until our book equals its book."""
        server.pause_market()
        instrument = self.instruments[symbol]

        def equal() -> bool:
            return all(
                self.mirror.levels(symbol, side) == server_levels(server, instrument, side)
                for side in (0, 1)
            ) and bool(self.mirror.levels(symbol, 0))

        await wait_for(equal, f"{symbol} book equal to the server's")


@pytest.fixture
async def server() -> AsyncIterator[BinanceLoopback]:
    loopback = BinanceLoopback(
        seed=11,
        symbols=SYMBOLS,
        api_key=API_KEY,
        api_secret=API_SECRET,
        warmup_s=5,
        rate=400,
        balances={"USDT": "1000000", "BTC": "10", "ETH": "100"},
    )
    async with serving(loopback):
        yield loopback


@pytest.fixture
async def running_feed(server: BinanceLoopback) -> AsyncIterator[RunningFeed]:
    feed = BinanceFeed(server.rest_url, server.ws_url, backoff_initial_s=0.05, seed=1)
    instruments = await feed.load_instruments(SYMBOLS)
    ids = {str(i.id): n for n, i in enumerate(instruments)}
    mirror = Mirror(ids)
    holder: list[FeedSink] = []

    def wake() -> None:
        batch = holder[0].take()
        events = list(
            zip(
                batch.kind,
                batch.instrument,
                batch.side,
                batch.price,
                batch.size,
                batch.ts_event,
                strict=True,
            )
        )
        mirror.wakes.append(Wake(events, frozenset(feed.health.resyncing)))
        mirror.apply(events)

    sink = FeedSink(lambda instrument_id: ids[str(instrument_id)], wake)
    holder.append(sink)
    task = asyncio.create_task(feed.run(SYMBOLS, sink), name="test-binance-feed")
    running = RunningFeed(feed, mirror, {i.id.symbol: i for i in instruments}, task)
    try:
        await wait_for(running.live, "the feed to go live")
        yield running
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def client(server: BinanceLoopback) -> AsyncIterator[BinanceOrderClient]:
    order_client = BinanceOrderClient(
        server.rest_url, api_key=Secret(API_KEY), api_secret=Secret(API_SECRET)
    )
    try:
        yield order_client
    finally:
        await order_client.close()
