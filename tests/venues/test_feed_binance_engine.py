"""Binance feed incidents through the real engine subprocess, a real Mosquitto and the loopback.

One engine run walks the faults an independent exchange check found (issue 11):

- a book snapshot slow enough that resyncs span the 1 Hz ``md/feeds`` publish, at start and
  after a reconnect: the engine once exited here (``InstrumentId`` in ``resyncing``);
- ``serverShutdown`` and a server-side drop: logged at the engine's level, counted in
  ``md/feeds``, and on the bus log the console's log pane shows;
- a diff that crosses the book: dropped, resynced, never published, counted and logged;
- the venue's clock 6 s behind ours: measured and shown, entries not denied as stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.cli.demo_command import demo_settings_args
from engine.protocol import payloads as p
from engine.venues.loopback_host import LoopbackHost, LoopbackInfo
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration

INSTRUMENT = "BTCUSDT.BINANCE"
SNAPSHOT_LATENCY_S = 1.6
"""Longer than the 1 s health publish interval: every resync spans at least one publish."""
SKEW_MS = -6_000


@pytest.fixture
def binance() -> Iterator[tuple[LoopbackHost, LoopbackInfo]]:
    host = LoopbackHost("binance", seed=3, symbols=["BTCUSDT"])
    info = host.start()
    try:
        yield host, info
    finally:
        host.stop()


def feed_row(observer: Observer) -> p.FeedHealthRow | None:
    health = observer.latest(observer.topics.feeds, p.FeedsHealth)
    return health.feeds[0] if health and health.feeds else None


def crossed_books(observer: Observer) -> list[p.BookSnapshot]:
    books = observer.all(observer.topics.book(INSTRUMENT), p.BookSnapshot)
    return [
        book
        for book in books
        if book.bids and book.asks and Decimal(book.bids[0][0]) >= Decimal(book.asks[0][0])
    ]


async def test_binance_feed_incidents_keep_the_engine_up_and_are_visible(
    mosquitto: Broker, binance: tuple[LoopbackHost, LoopbackInfo], tmp_path: Path
) -> None:
    host, info = binance
    server = host._server
    server.set_snapshot_latency(SNAPSHOT_LATENCY_S)
    server.set_clock_skew(SKEW_MS)
    namespace = unique_namespace()
    extra = [*demo_settings_args(info, live=False), "--set", "engine.log_level=info"]
    engine = EngineProcess(mosquitto.url, namespace, data_dir=tmp_path, extra=extra).start()
    try:
        async with Observer(mosquitto.host, mosquitto.port, namespace) as observer:
            await observer.wait_status("running", 30)

            # 1. The first snapshot is slow: md/feeds is published while the book resyncs.
            def resyncing() -> p.FeedHealthRow | None:
                row = feed_row(observer)
                return row if row is not None and row.resyncing == [INSTRUMENT] else None

            await observer.wait_for(resyncing, 15, "md/feeds while the book resyncs")

            def live() -> p.FeedHealthRow | None:
                row = feed_row(observer)
                return row if row is not None and row.state == "live" else None

            await observer.wait_for(live, 15, "the feed live after the slow snapshot")
            assert engine.process is not None and engine.process.poll() is None

            # 2. A maintenance disconnect: serverShutdown, then the server drops us.
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(server.announce_shutdown(), host._loop)
            )
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(server.drop_connections(), host._loop)
            )

            def reconnected_and_resyncing() -> p.FeedHealthRow | None:
                row = feed_row(observer)
                ok = row is not None and row.reconnects >= 1 and row.resyncing == [INSTRUMENT]
                return row if ok else None

            await observer.wait_for(reconnected_and_resyncing, 15, "a resync after a reconnect")
            row = await observer.wait_for(live, 15, "live again after the reconnect")
            assert row.disconnects >= 1
            assert engine.process.poll() is None, "the engine survived resyncs across publishes"

            # 3. A crossed diff: dropped, resynced from a fresh snapshot, never published.
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(server.inject_crossed("BTCUSDT"), host._loop)
            )

            def crossed_counted() -> p.FeedHealthRow | None:
                row = feed_row(observer)
                return row if row is not None and row.crossed >= 1 else None

            await observer.wait_for(crossed_counted, 10, "the crossed book counted")
            row = await observer.wait_for(live, 15, "live again after the crossed book")
            assert crossed_books(observer) == [], "a crossed book was published"
            assert observer.all(observer.topics.book(INSTRUMENT), p.BookSnapshot)

            # 4. The venue's clock is 6 s behind: measured, shown, and not taken for silence.
            assert row.clock_offset_ms is not None
            assert SKEW_MS - 500 <= row.clock_offset_ms <= SKEW_MS + 50, row.clock_offset_ms
            assert row.data_age_ms is not None and row.data_age_ms < 2_000
            assert row.stale == []

            # Incidents reached the bus log (the console's log pane) under the venue's name.
            events = observer.all(observer.topics.log, p.LogEvent)
            venue_lines = [e.message for e in events if e.source == "venues.binance"]
            assert any("disconnected" in line for line in venue_lines), venue_lines
            assert any("server announced a shutdown" in line for line in venue_lines)
            assert any("arrived crossed" in line for line in venue_lines), venue_lines
    finally:
        engine.stop()
    log = engine.log()
    assert "Traceback" not in log, log[-3000:]
    # The engine's configured logging (stderr here, the log file in service) has every incident.
    assert "WARNING stom.venues.binance: BINANCE feed: disconnected: stream connection" in log
    assert "INFO    stom.venues.binance: BINANCE feed: the server announced a shutdown" in log
    assert "INFO    stom.venues.binance: BINANCE feed: reconnected (reconnect 1)" in log
    assert "WARNING stom.venues.binance: BINANCE feed: BTCUSDT.BINANCE book arrived crossed" in log
