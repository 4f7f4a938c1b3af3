"""KiwoomFeed against the Kiwoom loopback server: real sockets, the real client code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from engine.domain.clock import LiveClock
from engine.venues.base import FeedState, VenueRejected
from engine.venues.kiwoom import KiwoomFeed, wire
from engine.venues.kiwoom.loopback import KiwoomLoopback
from engine.venues.kiwoom.rules import KRX_TICKS
from tests.venues.kiwoom.helpers import (
    BOOK_CLEAR,
    BOOK_LEVEL,
    SYMBOLS,
    BookSink,
    credentials,
    eventually,
    loopback,
)

IDS = [f"{symbol}.KRX" for symbol in SYMBOLS]


def make_feed(server: KiwoomLoopback, **options: object) -> KiwoomFeed:
    return KiwoomFeed(
        server.rest_url, server.ws_url, clock=LiveClock(), backoff_initial_s=0.05,
        **credentials(), **options,  # type: ignore[arg-type]
    )  # fmt: skip


@asynccontextmanager
async def streaming(
    server: KiwoomLoopback, **options: object
) -> AsyncIterator[tuple[KiwoomFeed, BookSink]]:
    feed = make_feed(server, **options)
    sink = BookSink(IDS)
    task = asyncio.create_task(feed.run(SYMBOLS, sink.sink))
    try:
        await eventually(
            lambda: feed.health.state is FeedState.LIVE and all(sink.top(i)[0] for i in IDS),
            what="the feed to go live with a book for every stock",
        )
        yield feed, sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(10):  # a feed that swallows cancellation fails here
                await task
        await feed.close()


async def test_instruments_come_from_the_venue_with_krx_rules() -> None:
    async with loopback() as server:
        feed = make_feed(server)
        instruments = await feed.load_instruments(["005930", "000660.KRX"])
        await feed.close()
    samsung, hynix = instruments
    assert (str(samsung.id), samsung.name) == ("005930.KRX", "Samsung Electronics")
    assert str(hynix.id) == "000660.KRX"
    assert samsung.tick_table.tick_at(70_000) == 100 and samsung.tick_table.tick_at(19_990) == 10
    assert (samsung.lot_size_raw, samsung.min_notional, samsung.daily_limit) == (
        1, Decimal(0), Decimal("0.30"),
    )  # fmt: skip
    limits = feed.limits["005930.KRX"]
    assert (limits.base, limits.lower, limits.upper) == (70_000, 49_000, 91_000)
    assert server.requests.count(wire.STOCK_INFO) == 2


async def test_subscribes_and_parses_trades_and_ten_level_books() -> None:
    async with loopback() as server, streaming(server) as (feed, sink):
        await eventually(lambda: all(sink.trades(i) for i in IDS), what="trades on every stock")
        assert feed.health.connects == 1 and feed.health.malformed == 0
        # Frames carry HHMMSS (KST) of the server's clock: stamps are today's, near now, at any
        # hour of the day (the loopback trades around the clock).
        now = LiveClock().now_ns()
        for kind, instrument_id, _, price, size, ts in sink.trades():
            assert kind == 2 - 1 and size > 0 and KRX_TICKS.is_on_grid(price)
            limits = server.market.by_code[instrument_id[:6]].limits
            assert limits.contains(price)
            assert abs(ts - now) < 120 * wire.NS
        bids, asks = sink.top("005930.KRX")
        assert 0 < len(bids) <= 10 and 0 < len(asks) <= 10
        assert bids[0][0] < asks[0][0]


async def test_reconnects_and_rebuilds_books_after_a_server_side_drop() -> None:
    async with loopback() as server, streaming(server) as (feed, sink):
        await server.drop_connections()
        await eventually(lambda: feed.health.connects == 2, what="a second connection")
        cleared_at = len(sink.events)
        await eventually(
            lambda: feed.health.state is FeedState.LIVE and not feed.health.resyncing,
            what="every book rebuilt",
        )
        assert feed.health.reconnects == 1
        # The books were cleared when the connection dropped, then rebuilt from snapshots.
        clears = {e[1] for e in sink.events[: cleared_at + 1] if e[0] == BOOK_CLEAR}
        assert clears == set(IDS)
        count = len(sink.trades())
        await eventually(lambda: len(sink.trades()) > count, what="trades after the reconnect")


async def test_trade_gap_holds_the_book_until_a_full_snapshot_matches_the_server() -> None:
    async with loopback() as server, streaming(server) as (feed, sink):
        # A gap needs a trade before it: the first trade after a connect has no baseline.
        await eventually(lambda: sink.trades("005930.KRX"), what="a first trade")
        server.hold_books("005930")
        server.skip_trades("005930", 1)
        await eventually(lambda: feed.health.gaps == 1, what="the gap to be detected")
        # Resyncing, with an empty book: nothing may trade on what was there before the gap.
        assert feed.health.resyncing == {"005930.KRX"}
        assert feed.health.state is FeedState.RESYNCING
        assert sink.top("005930.KRX") == ([], [])
        await asyncio.sleep(0.2)  # books stay held: no level may come back on its own
        assert sink.top("005930.KRX") == ([], []) and feed.health.resyncing == {"005930.KRX"}
        server.hold_books("005930", held=False)
        await eventually(lambda: not feed.health.resyncing, what="the resync")
        assert feed.health.state is FeedState.LIVE
        server.paused = True
        await eventually(
            lambda: sink.top("005930.KRX") == server.book("005930"),
            what="the client's book to equal the server's",
        )
        levels = [e for e in sink.events if e[1] == "005930.KRX" and e[0] == BOOK_LEVEL]
        assert levels, "the snapshot arrived as book levels"


async def test_malformed_frames_are_counted_and_skipped() -> None:
    async with loopback() as server, streaming(server) as (feed, sink):
        await server.send_malformed()
        await eventually(lambda: feed.health.malformed == 2, what="two malformed frames")
        count = len(sink.trades())
        await eventually(lambda: len(sink.trades()) > count, what="trades after the bad frames")
        assert feed.health.connects == 1 and feed.health.state is FeedState.LIVE


async def test_pings_are_echoed_so_the_server_keeps_the_connection() -> None:
    async with loopback(ping_interval_s=0.1) as server, streaming(server) as (feed, _):
        await asyncio.sleep(0.6)  # several PINGs; the server closes on a missed echo
        assert feed.health.connects == 1 and feed.health.reconnects == 0


async def test_idle_connection_is_replaced() -> None:
    async with loopback() as server, streaming(server, idle_timeout_s=0.3) as (feed, _):
        server.paused = True  # no data and no PING (every 10 s): the feed must give up
        await eventually(lambda: feed.health.reconnects >= 1, what="an idle reconnect")
        server.paused = False
        await eventually(lambda: feed.health.connects >= 2, what="a new connection")


async def test_wrong_credentials_are_refused_with_the_venue_code() -> None:
    async with loopback() as server:
        feed = KiwoomFeed(
            server.rest_url, server.ws_url, app_key=credentials()["app_key"],
            secret_key=type(credentials()["secret_key"])("not-the-secret"),
        )  # fmt: skip
        with pytest.raises(VenueRejected) as caught:
            await feed.load_instruments(["005930"])
        await feed.close()
    assert caught.value.code == str(wire.BAD_APP_KEY)
    assert "not-the-secret" not in str(caught.value)
