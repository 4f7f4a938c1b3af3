"""Every venue incident is logged under ``stom.venues.<venue>`` at a sensible level, counted, and
says what was wrong: the adapters against their loopback servers (no engine)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from engine.domain.market_data import ASK
from engine.venues.base import FeedSink, FeedState
from engine.venues.binance.loopback import BinanceLoopback
from engine.venues.upbit import UpbitFeed
from engine.venues.upbit.loopback import UpbitLoopback
from tests.support.trading_desk import serving
from tests.venues.binance.conftest import RunningFeed, running_feed, server
from tests.venues.binance.conftest import wait_for as binance_wait_for
from tests.venues.upbit.support import SYMBOLS, running, wait_for


@contextlib.asynccontextmanager
async def upbit_feed(server: UpbitLoopback) -> AsyncIterator[UpbitFeed]:
    feed = UpbitFeed(server.rest_url, server.ws_url, backoff_min_s=0.05)
    sink = FeedSink([f"{s}.UPBIT" for s in SYMBOLS].index, lambda: None)
    async with running(feed, sink):
        yield feed


__all__ = ["running_feed", "server"]  # the Binance fixtures, used below


def venue_lines(caplog: pytest.LogCaptureFixture, venue: str) -> list[tuple[str, str]]:
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == f"stom.venues.{venue}"
    ]


@contextlib.asynccontextmanager
async def upbit_server(idle_timeout_s: float = 120.0) -> AsyncIterator[UpbitLoopback]:
    loopback = UpbitLoopback(seed=7, symbols=SYMBOLS, rate=200.0, history_s=60.0,
                             balances={"KRW": Decimal(1_000_000)},
                             idle_timeout_s=idle_timeout_s)  # fmt: skip
    async with serving(loopback):
        yield loopback


async def test_upbit_malformed_frames_say_what_was_wrong(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stom")
    async with upbit_server() as server, upbit_feed(server) as feed:
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        server.inject_malformed(3)
        await wait_for(lambda: feed.health.malformed == 3, what="3 malformed frames")
    malformed = [
        (level, line) for level, line in venue_lines(caplog, "upbit") if "malformed" in line
    ]
    assert len(malformed) == 3 and {level for level, _ in malformed} == {"WARNING"}
    # Each says what was wrong (the decoder's words) and how the frame started.
    text = "\n".join(line for _, line in malformed)
    assert "Input data was truncated" in text and '"cd":"KRW-BTC","tp":10346' in text
    assert "Expected `int`, got `str` - at `$.tms`" in text
    assert "JSON is malformed" in text and "not json" in text


async def test_upbit_clean_close_by_the_server_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="stom")
    # The venue's idle close: a clean close handshake from the server, nothing raised. (The
    # loopback closes a connection nothing was sent on for idle_timeout_s: a paused market.)
    async with upbit_server(idle_timeout_s=0.5) as server, upbit_feed(server) as feed:
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        server.pause_market()
        await wait_for(lambda: feed.health.reconnects >= 1, what="a clean close and a reconnect")
    lines = venue_lines(caplog, "upbit")
    closed = [(level, line) for level, line in lines if "closed by the server" in line]
    assert closed and closed[0][0] == "WARNING" and "(code 1000" in closed[0][1], lines
    assert ("INFO", "UPBIT feed: reconnected (reconnect 1)") in lines
    assert feed.health.disconnects >= 1


async def test_binance_gap_shutdown_and_drop_are_logged_and_counted(
    server: BinanceLoopback, running_feed: RunningFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stom")
    health = running_feed.feed.health
    await running_feed.synced_with(server, "BTCUSDT")
    server.inject_gap("BTCUSDT")
    server.nudge("BTCUSDT", ASK)
    await binance_wait_for(lambda: health.gaps >= 1, "the gap")
    await server.announce_shutdown()
    await server.drop_connections()
    await binance_wait_for(lambda: health.reconnects >= 1, "the reconnect")
    lines = venue_lines(caplog, "binance")
    gap = [line for level, line in lines if level == "WARNING" and "depth gap" in line]
    assert gap and "BTCUSDT" in gap[0] and "next diff starts at" in gap[0], lines
    assert ("INFO", "BINANCE feed: the server announced a shutdown; a reconnect will follow") in (
        lines
    )
    assert any(level == "WARNING" and "disconnected" in line for level, line in lines), lines
    assert health.disconnects >= 1
