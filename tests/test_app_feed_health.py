"""Venue feed health in the console: per-feed state, message age and reconnects in the status
line, and a ``-venue-down`` class while a feed is not live."""

from __future__ import annotations

from engine.protocol import codec
from engine.protocol.payloads import FeedHealthRow, FeedsHealth
from engine.protocol.topics import Topics
from stom_tui.feed import MqttFeed
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.market_payloads import SNAPSHOT_TS_NS

WIDE = (200, 48)


def health(state: str, age_ms: int | None, reconnects: int) -> FeedsHealth:
    return FeedsHealth(
        ts=SNAPSHOT_TS_NS,
        feeds=[
            FeedHealthRow(
                venue="UPBIT",
                state=state,  # type: ignore[arg-type]
                mode="paper",
                last_message_ns=SNAPSHOT_TS_NS if age_ms is not None else None,
                age_ms=age_ms,
                connects=reconnects + 1,
                reconnects=reconnects,
                gaps=0,
                malformed=0,
            )
        ],
    )


async def test_status_line_shows_each_feed_and_flags_a_feed_that_is_down() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        under.feed.post(health("live", 40, 0))
        await settle(pilot)
        text = app.status_line.render().plain
        assert "UPBIT feed live 0.0s ↻0" in text
        assert not app.status_line.has_class("-venue-down")
        under.feed.post(health("down", 12_500, 3))
        await settle(pilot)
        assert "UPBIT feed down 12s ↻3" in app.status_line.render().plain
        assert app.status_line.has_class("-venue-down")
        assert app.metrics.handled["FeedsHealthUpdated"] == 2


def test_the_feed_subscribes_to_and_decodes_md_feeds() -> None:
    from engine.config.settings import Settings

    feed = MqttFeed(Settings(), host="127.0.0.1", port=1)
    topic = Topics("default").feeds
    assert feed._route(topic) is FeedsHealth
    payload = codec.decode(codec.encode(health("resyncing", 5, 1)), FeedsHealth)
    assert payload.feeds[0].state == "resyncing"
