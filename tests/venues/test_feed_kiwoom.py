"""Kiwoom's side of the shared feed mechanisms, against its loopback server: a book the engine
found crossed is cleared and rebuilt from the next ``0D``; the venue clock is measured."""

from __future__ import annotations

from engine.venues.base import FeedState
from tests.venues.kiwoom.helpers import BOOK_CLEAR, eventually, loopback
from tests.venues.kiwoom.test_feed import IDS, streaming


async def test_a_crossed_book_is_cleared_and_rebuilt_from_the_next_snapshot() -> None:
    async with loopback() as server, streaming(server) as (feed, sink):
        health, target = feed.health, IDS[0]
        before = len(sink.events)
        feed.resync_book(target)
        assert target in health.resyncing and health.state is FeedState.RESYNCING
        assert (BOOK_CLEAR, target) in [(e[0], e[1]) for e in sink.events[before:]]
        await eventually(lambda: target not in health.resyncing, what="the next 0D")
        assert feed.health.state.value == FeedState.LIVE.value
        bids, asks = sink.top(target)
        assert bids and asks and bids[0][0] < asks[0][0]
        # FID 20/21 are whole seconds of KST: the offset is measured to within a second.
        offset = health.clock.offset_ns(health.last_message_ns)
        assert offset is not None and -1_500_000_000 <= offset <= 100_000_000, offset
