"""Feed health: strict resyncing ids, the venue clock measurement, the md/feeds payload, the
crossed-book guard of the market state, and every engine logger under ``stom.*``."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import msgspec
import pytest

from engine.domain.ids import InstrumentId
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.market_state import InstrumentState, MarketState
from engine.protocol.codec import encode
from engine.sim.catalog import sim_instrument
from engine.venues.feed_health import FeedHealth, InstrumentIds, VenueClock, excerpt

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000


def test_resyncing_stores_plain_str_so_md_feeds_always_encodes() -> None:
    health = FeedHealth(venue="BINANCE")
    health.resyncing.add(InstrumentId("BTCUSDT.BINANCE"))
    health.resyncing.update([InstrumentId("ETHUSDT.BINANCE")])
    health.resyncing |= {InstrumentId("SOLUSDT.BINANCE")}
    health.resyncing ^= {InstrumentId("DOGEUSDT.BINANCE"), "SOLUSDT.BINANCE"}
    assert {type(value) for value in health.resyncing} == {str}
    assert "SOLUSDT.BINANCE" not in health.resyncing and "DOGEUSDT.BINANCE" in health.resyncing
    health.resyncing = {InstrumentId("XRPUSDT.BINANCE")}  # type: ignore[assignment]
    health.resyncing.add(InstrumentId("BTCUSDT.BINANCE"))
    assert {type(value) for value in health.resyncing} == {str}
    assert "BTCUSDT.BINANCE" in health.resyncing
    assert InstrumentId("XRPUSDT.BINANCE") in health.resyncing
    # What failed in the engine: msgspec refuses the str subclass.
    with pytest.raises(TypeError):
        msgspec.json.encode([InstrumentId("BTCUSDT.BINANCE")])
    assert msgspec.json.encode(sorted(health.resyncing)) == b'["BTCUSDT.BINANCE","XRPUSDT.BINANCE"]'
    with pytest.raises(TypeError):
        InstrumentIds().add(7)  # type: ignore[arg-type]


def test_venue_clock_takes_the_least_delayed_sample_and_follows_a_step() -> None:
    clock = VenueClock()
    assert clock.offset_ns(0) is None
    base = 100 * S
    # The venue is 6 s behind; messages arrive 3..40 ms after they were stamped.
    for n, delay_ms in enumerate([40, 3, 25, 10]):
        received = base + n * 100_000_000
        clock.observe(received - 6 * S - delay_ms * 1_000_000, received)
    assert clock.offset_ns(base + 400_000_000) == -6 * S - 3_000_000
    # The venue's clock is stepped to 6 s ahead: followed within a window (5 s).
    later = base + 6 * S
    for n in range(30):
        received = later + n * 200_000_000
        clock.observe(received + 6 * S - 5_000_000, received)
    assert clock.offset_ns(later + 6 * S) == 6 * S - 5_000_000


def test_malformed_frames_and_incidents_are_logged_under_the_venue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = FeedHealth(venue="UPBIT")
    with caplog.at_level(logging.INFO, logger="stom"):
        health.malformed_frame("expected `int`, got `str` - at `$.tms`", b'{"ty":"orderbook"}')
        health.went_down("closed by the server (code 1000)")
        health.connected()
        health.connected()
    assert health.malformed == 1 and health.disconnects == 1 and health.reconnects == 1
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0][:2] == ("stom.venues.upbit", "WARNING")
    assert "expected `int`, got `str` - at `$.tms`" in lines[0][2]
    assert '{"ty":"orderbook"}' in lines[0][2]
    assert lines[1][1] == "WARNING" and "closed by the server" in lines[1][2]
    assert lines[2] == ("stom.venues.upbit", "INFO", "UPBIT feed: reconnected (reconnect 1)")
    assert len(excerpt(b"x" * 500)) < 140


def test_every_engine_logger_is_under_stom() -> None:
    """Only ``stom.*`` gets the configured level, the log file's and the bus bridge's handler:
    a module logging under its ``__name__`` (``engine.venues...``) is dropped below WARNING and
    never reaches the console's log pane. Loopback servers are not part of the engine."""
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        if path.name.startswith("loopback"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "getLogger"
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "__name__"
            ):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _market() -> tuple[MarketState, list[tuple[InstrumentState, int, int]]]:
    market = MarketState()
    market.add(sim_instrument("KRW-BTC"))
    market.add(sim_instrument("KRW-ETH"))
    seen: list[tuple[InstrumentState, int, int]] = []
    market.guard_book(0, lambda state, bid, ask: seen.append((state, bid, ask)))
    book = MarketBatch()
    book.append(BOOK_LEVEL, 0, BID, 1000, 5, 1)
    book.append(BOOK_LEVEL, 0, ASK, 1010, 5, 1)
    book.append(BOOK_LEVEL, 1, BID, 500, 5, 1)
    book.append(BOOK_LEVEL, 1, ASK, 510, 5, 1)
    market.apply(book, recv_ns=10)
    return market, seen


def test_a_crossed_book_is_dropped_before_anything_reads_the_batch() -> None:
    market, seen = _market()
    batch = MarketBatch()
    batch.append(BOOK_LEVEL, 0, BID, 1020, 3, 2)  # above the best ask: crossed
    batch.append(TRADE, 0, BID, 1010, 1, 2)
    batch.append(BOOK_LEVEL, 1, BID, 505, 3, 2)  # the other instrument is fine
    market.apply(batch, recv_ns=20)
    state = market.at(0)
    assert (state.bids, state.asks, state.best_bid, state.best_ask) == ({}, {}, 0, 0)
    assert [(s.index, bid, ask) for s, bid, ask in seen] == [(0, 1020, 1010)]
    # What the paper exchange and the strategies see next: no crossing level, the trade, a clear.
    rows = list(zip(batch.kind, batch.instrument, batch.price, strict=True))
    assert rows == [(TRADE, 0, 1010), (BOOK_LEVEL, 1, 505), (BOOK_CLEAR, 0, 0)]
    assert market.at(1).best_bid == 505 and market.at(0).ts_recv == 20


def test_a_locked_book_is_dropped_and_a_diff_crossing_only_midway_is_not() -> None:
    market, seen = _market()
    fine = MarketBatch()
    fine.append(BOOK_LEVEL, 0, BID, 1015, 3, 2)  # crosses until the ask moves up below
    fine.append(BOOK_LEVEL, 0, ASK, 1010, 0, 2)
    fine.append(BOOK_LEVEL, 0, ASK, 1020, 4, 2)
    market.apply(fine)
    assert seen == [] and market.at(0).best_bid == 1015 and market.at(0).best_ask == 1020
    locked = MarketBatch()
    locked.append(BOOK_LEVEL, 0, ASK, 1015, 1, 3)
    market.apply(locked)
    assert [(bid, ask) for _, bid, ask in seen] == [(1015, 1015)]


def test_md_feeds_row_says_stale_and_carries_the_offset() -> None:
    from engine.venues.feeds import VenueRuntime, VenueSet

    class Feed:
        venue = "UPBIT"

        def __init__(self) -> None:
            self.health = FeedHealth(venue="UPBIT")
            self.resynced: list[str] = []

        def resync_book(self, instrument_id: str) -> None:
            self.resynced.append(instrument_id)

    class Config:
        code = "UPBIT"
        live = False

    instrument = sim_instrument("KRW-BTC")
    feed = Feed()
    venues = VenueSet(venues=[VenueRuntime(Config(), feed, [instrument])])  # type: ignore[arg-type]
    market = MarketState()
    venues._market = market
    market.add(instrument)
    feed.health.state = feed.health.state.LIVE
    feed.health.resyncing.add(InstrumentId("KRW-BTC.SIM"))
    feed.health.clock.observe(S - 6 * S, S)
    batch = MarketBatch()
    batch.append(TRADE, 0, BID, 1000, 1, 1)
    market.apply(batch, recv_ns=S)
    row = venues.health_payload(S + 2 * S).feeds[0]
    assert (row.state, row.stale, row.data_age_ms, row.clock_offset_ms) == ("live", [], 2000, -6000)
    row = venues.health_payload(S + 6 * S).feeds[0]
    assert row.state == "stale" and row.stale == ["KRW-BTC.SIM"] and row.data_age_ms == 6000
    assert b"KRW-BTC.SIM" in encode(venues.health_payload(S))


def test_venue_book_depth_is_configured_per_venue_and_checked() -> None:
    from engine.config.settings import Settings, VenueSettings, VenuesSettings
    from engine.config.validation import check_settings

    def problems(depth: int) -> list[str]:
        venues = VenuesSettings(upbit=VenueSettings(book_depth=depth))
        found = check_settings(msgspec.structs.replace(Settings(), venues=venues), None)
        return [f"{p.section} {p.key}" for p in found if p.key == "book_depth"]

    assert problems(0) == [] and problems(15) == []
    assert problems(-1) == ["venues.upbit book_depth"]
    assert problems(5001) == ["venues.upbit book_depth"]


def test_venue_books_are_published_as_deep_as_configured_or_as_the_venue_sends() -> None:
    from types import SimpleNamespace

    from engine.market_publisher import MarketPublisher
    from engine.outbox import Outbox
    from engine.protocol import payloads as p
    from engine.protocol.codec import decode
    from engine.protocol.topics import Topics
    from engine.venues.feeds import VenueRuntime, VenueSet

    def published(configured: int) -> int:
        instrument = sim_instrument("KRW-BTC")
        feed = SimpleNamespace(health=FeedHealth(venue="SIM"), book_depth=30)
        settings = SimpleNamespace(book_depth=configured, poll_interval_ms=1000.0)
        config = SimpleNamespace(code="SIM", live=False, settings=settings)
        venues = VenueSet(venues=[VenueRuntime(config, feed, [instrument])])  # type: ignore[arg-type]
        market = MarketState()
        venues.attach(market, clock=None, poll=False)  # type: ignore[arg-type]
        batch = MarketBatch()
        for level in range(40):
            batch.append(BOOK_LEVEL, 0, BID, 100_000 - level, 1, 1)
            batch.append(BOOK_LEVEL, 0, ASK, 100_001 + level, 1, 1)
        market.apply(batch, recv_ns=1)
        topics, outbox = Topics("t"), Outbox()
        MarketPublisher(market, topics, book_depth=20, trades_per_flush=10).collect(outbox, 2)
        [book] = [o for o in outbox.take() if o.topic == topics.book("KRW-BTC.SIM")]
        snapshot = decode(book.data, p.BookSnapshot)
        assert len(snapshot.bids) == len(snapshot.asks)
        return len(snapshot.bids)

    assert published(0) == 30  # what the venue sends, not the simulator's [sim] book_depth 20
    assert published(15) == 15


def test_a_book_crossed_on_every_message_warns_once_a_minute_and_counts_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = FeedHealth(venue="KRX", adapter="kiwoom")
    with caplog.at_level(logging.INFO, logger="stom"):
        for n in range(5):  # a call auction: every 0D crossed, a few a second
            health.book_crossed("005930.KRX", "005930.KRX book arrived crossed", n * S)
        health.book_crossed("005930.KRX", "005930.KRX book arrived crossed", 61 * S)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "KRX feed: 005930.KRX book arrived crossed",
        "KRX feed: 005930.KRX book arrived crossed (4 more times since the last report)",
    ]
    assert {r.name for r in caplog.records} == {"stom.venues.kiwoom"}
    assert health.crossed == 6 and health.resyncing == {"005930.KRX"}
