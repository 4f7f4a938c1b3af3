"""The live exchange after a place whose answer was lost: looked up by client order id, sent again
only where that cannot place the order twice (engine/venues/live_requests.py), against the
in-memory venue of ``live_desk.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fake_venue import FakeVenueClient
from tests.venues.live_desk import LiveDesk, running


@pytest.fixture
def client() -> FakeVenueClient:
    return FakeVenueClient(min_notional_raw=5_000 * 10**8)


# --- a venue that does not refuse a duplicate client order id (like Kiwoom) -------------------


@pytest.fixture
def unguarded() -> FakeVenueClient:
    return FakeVenueClient(min_notional_raw=5_000 * 10**8, rejects_duplicate_ids=False)


async def test_a_lost_answer_not_listed_yet_is_looked_up_never_placed_twice(
    tmp_path: Path, unguarded: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, unguarded)) as desk:
        unguarded.lose_next_place = True  # the order lands, the answer times out
        unguarded.unlisted_lookups = 2  # and the venue does not list it at once
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted", timeout=10)
        kinds = [kind for kind, _ in unguarded.calls]
        assert kinds.count("place") == 1, kinds
        assert len(unguarded.orders) == 1
        assert desk.core.oms.orders[coid].venue_order_id == "V1"


async def test_a_lost_request_the_venue_never_got_is_rejected_as_not_placed(
    tmp_path: Path, unguarded: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, unguarded)) as desk:
        unguarded.drop_next_place = True  # lost on its way: the venue does not know it
        unguarded.unlisted_lookups = 1  # settling: unknown first, then definitively not found
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "rejected", timeout=10)
        reason = desk.core.oms.orders[coid].reason
        assert "not placed" in reason, reason
        assert [kind for kind, _ in unguarded.calls].count("place") == 1
        assert unguarded.orders == {}
        assert desk.exchange.open_order_ids() == set()


async def test_a_place_that_was_never_sent_is_sent_again(
    tmp_path: Path, unguarded: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, unguarded)) as desk:
        unguarded.refuse_connections = 2  # certainly never reached the venue
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted", timeout=10)
        assert [kind for kind, _ in unguarded.calls].count("place") == 3
        assert len(unguarded.orders) == 1


async def test_an_order_still_unlisted_after_every_look_up_is_left_to_the_polls(
    tmp_path: Path, unguarded: FakeVenueClient
) -> None:
    desk = LiveDesk(tmp_path, unguarded)
    desk.exchange.requests.max_attempts = 2
    async with running(desk):
        unguarded.lose_next_place = True
        unguarded.unlisted_lookups = 4  # more than the place job looks up
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted", timeout=10)
        assert [kind for kind, _ in unguarded.calls].count("place") == 1
        assert len(unguarded.orders) == 1
        assert desk.exchange.open_order_ids() == {coid}


async def test_a_venue_refusing_duplicates_keeps_sending_again_after_a_lost_answer(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        client.lose_next_place = True
        client.unlisted_lookups = 1  # not found at once: sent again, refused as a duplicate
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted", timeout=10)
        assert [kind for kind, _ in client.calls].count("place") == 2
        assert len(client.orders) == 1
        assert desk.core.oms.orders[coid].venue_order_id == "V1"
