"""The console shows feed incidents and the venue clock offset: the status line (text and an SVG
snapshot) and the venue's incident lines in the log pane.

Update the snapshot with ``pytest tests/venues/test_feed_console.py --snapshot-update`` only after
looking at the new screen.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from textual.pilot import Pilot

from engine.protocol.payloads import FeedHealthRow, FeedsHealth, LogEvent, LogLevel
from stom_tui.health import feed_incidents, format_clock_offset
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.market_payloads import SNAPSHOT_TS_NS
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

SnapCompare = Callable[..., bool]
WIDE = (200, 48)


def feeds(state: str = "live", offset_ms: int | None = -6012) -> FeedsHealth:
    return FeedsHealth(
        ts=SNAPSHOT_TS_NS,
        feeds=[
            FeedHealthRow(
                venue="UPBIT",
                state=state,  # type: ignore[arg-type]
                mode="paper",
                last_message_ns=SNAPSHOT_TS_NS,
                age_ms=40,
                connects=3,
                reconnects=2,
                gaps=1,
                malformed=3,
                crossed=1,
                disconnects=2,
                clock_offset_ms=offset_ms,
                data_age_ms=40,
            )
        ],
    )


def incident_logs() -> list[LogEvent]:
    lines: list[tuple[LogLevel, str]] = [
        ("warning", "UPBIT feed: disconnected: closed by the server (code 1000); reconnecting"),
        ("info", "UPBIT feed: reconnected (reconnect 2)"),
        ("warning", "UPBIT feed: KRW-BTC.UPBIT book arrived crossed (bid 143,573,000 >= ask "
                    "143,571,000): dropped, not traded on, fetching a fresh snapshot"),
    ]  # fmt: skip
    return [
        LogEvent(
            ts=SNAPSHOT_TS_NS + n * 1_000_000,
            seq=100 + n,
            level=level,
            source="venues.upbit",
            message=message,
        )
        for n, (level, message) in enumerate(lines)
    ]


def test_offsets_and_incidents_read_shortly() -> None:
    assert format_clock_offset(-6012) == "\u22126.0s"
    assert format_clock_offset(42) == "+0.04s"
    assert feed_incidents(feeds().feeds[0]) == "1 gap 1 crossed 3 bad frames 2 drops"


async def test_status_line_shows_the_clock_offset_incidents_and_a_stale_feed() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(feeds())
        await settle(pilot)
        text = under.app.status_line.render().plain
        assert "UPBIT feed live 0.0s ↻2" in text
        assert "UPBIT clock \u22126.0s" in text
        assert "UPBIT ⚠ 1 gap 1 crossed 3 bad frames 2 drops" in text
        under.feed.post(feeds("stale", None))
        await settle(pilot)
        text = under.app.status_line.render().plain
        assert "UPBIT feed stale" in text and "clock" not in text
        assert under.app.status_line.has_class("-venue-down")


@pytest.mark.usefixtures("utc_clock")
def test_feed_incidents_and_clock_offset_on_screen(snap_compare: SnapCompare) -> None:
    under = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        under.feed.post(feeds())
        under.feed.post_all(incident_logs())
        await settle(pilot)

    assert snap_compare(under.app, terminal_size=WIDE, run_before=run_before)


def test_tick_age_follows_the_engines_receive_clock_not_the_venues() -> None:
    from engine.protocol.payloads import EngineStatus
    from stom_tui.health import EnginePresence

    now = SNAPSHOT_TS_NS
    presence = EnginePresence(keepalive_s=5, started_ns=now)
    presence.on_status(EngineStatus(state="running", engine_id="e", ts=now, venues=["UPBIT"]))
    presence.on_tick(now - 6_000_000_000)  # the venue's clock is 6 s behind ours
    assert presence.evaluate(now).stale  # by the venue's timestamps: "6 s old"
    presence.on_feeds(feeds(), now)  # md/feeds: its newest data was received 40 ms ago
    health = presence.evaluate(now + 100_000_000)
    assert health.tick_age_ns == 140_000_000 and not health.stale
    # The venue's clock 6 s ahead and the feed silent: stale all the same.
    presence.on_tick(now + 6_000_000_000)
    silent = FeedsHealth(
        ts=now, feeds=[msgspec.structs.replace(feeds().feeds[0], data_age_ms=3000)]
    )
    presence.on_feeds(silent, now)
    assert presence.evaluate(now).stale
