"""The live exchange behind the real OMS (risk, journal, account), against an in-memory venue
(``live_desk.py``); places whose answer was lost: ``test_live_exchange_lost_places.py``."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engine.domain.ids import InstrumentId
from engine.venues.base import VenueOrderStatus
from engine.venues.router import VenueRouter
from tests.support.fake_venue import FakeVenueClient
from tests.venues.live_desk import BTC, SIM_BTC, LiveDesk, running


@pytest.fixture
def client() -> FakeVenueClient:
    return FakeVenueClient(min_notional_raw=5_000 * 10**8)


async def test_orders_route_by_venue_and_live_ones_need_arming(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    desk = LiveDesk(tmp_path, client)
    assert isinstance(desk.core.exchange, VenueRouter)
    async with running(desk, arm=False):
        desk.refresh()
        reply = await desk.command(
            "order.submit", instrument=BTC, side="buy", price="49990000", quantity="0.01"
        )
        assert reply.status == "rejected" and "not_armed" in reply.reason
        assert client.calls == [("open_orders", "")]
        # The simulator's paper venue needs no arming and never reaches the live client.
        paper = await desk.command(
            "order.submit", instrument=SIM_BTC, side="buy", price="49990000", quantity="0.01"
        )
        assert paper.status == "accepted", paper.reason
        coid = paper.result["order"]["client_order_id"]
        await desk.until(lambda: desk.status(coid) == "accepted")
        assert [kind for kind, _ in client.calls] == ["open_orders"]


async def test_partial_fills_arrive_once_each_then_the_order_fills(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        coid = await desk.buy(quantity="0.01")
        await desk.until(lambda: desk.status(coid) == "accepted")
        order = desk.core.oms.orders[coid]
        venue_order_id = order.venue_order_id
        assert venue_order_id == "V1"
        client.fill(venue_order_id, 400_000, 49_990_000)
        await desk.until(lambda: desk.status(coid) == "partially_filled")
        await asyncio.sleep(0.1)  # several polls see the same fill: it is reported once
        desk.core.oms.pump(desk.clock.now_ns())
        assert order.filled_raw == 400_000
        client.fill(venue_order_id, 600_000, 49_990_000)
        await desk.until(lambda: desk.status(coid) == "filled")
        assert desk.core.oms.positions[BTC].quantity_raw == 1_000_000
        fills = desk.core.journal.fills()
        assert sorted(fill.trade_id for fill in fills) == ["T1", "T2"]
        assert desk.exchange.open_order_ids() == set()


async def test_venue_rejection_carries_the_venue_code_and_message(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        client.reject_next = ("insufficient_funds_bid", "주문가능한 금액(KRW)이 부족합니다.")
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "rejected")
        reason = desk.core.oms.orders[coid].reason
        assert reason == "UPBIT insufficient_funds_bid: 주문가능한 금액(KRW)이 부족합니다."
        assert desk.core.oms.account.balances["KRW"].locked == 0


async def test_rate_limited_requests_are_retried_after_backing_off(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        client.unavailable = 2
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted")
        kinds = [kind for kind, _ in client.calls]
        # 429 on the place, 429 on the look-up that follows the back-off, then through.
        assert kinds[:4] == ["open_orders", "place", "query", "place"], kinds
        assert len(client.orders) == 1


async def test_a_lost_answer_is_found_by_client_order_id_not_sent_twice(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        client.lose_next_place = True  # the order lands, the answer times out
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted", timeout=10)
        kinds = [kind for kind, _ in client.calls]
        assert kinds.count("place") == 1, kinds
        assert len(client.orders) == 1
        assert desk.core.oms.orders[coid].venue_order_id == "V1"


async def test_cancel_reports_fills_before_it_then_the_cancel(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        coid = await desk.buy(quantity="0.02")
        await desk.until(lambda: desk.status(coid) == "accepted")
        venue_order_id = desk.core.oms.orders[coid].venue_order_id
        client.fill(venue_order_id, 500_000, 49_990_000)
        reply = await desk.command("order.cancel", client_order_id=coid)
        assert reply.status == "accepted", reply.reason
        await desk.until(lambda: desk.status(coid) == "canceled")
        order = desk.core.oms.orders[coid]
        assert order.filled_raw == 500_000
        assert desk.core.oms.account.balances["KRW"].locked == 0


async def test_cancel_of_a_filled_order_is_refused_with_the_fills(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    desk = LiveDesk(tmp_path, client)
    desk.exchange._poll_interval_s = 60.0  # only the cancel's own query sees the fill
    async with running(desk):
        coid = await desk.buy(quantity="0.01")
        await desk.until(lambda: desk.status(coid) == "accepted")
        client.fill(desk.core.oms.orders[coid].venue_order_id, 1_000_000, 49_990_000)
        await desk.command("order.cancel", client_order_id=coid)
        await desk.until(lambda: desk.status(coid) == "filled")


async def test_restart_reconciles_the_journal_with_the_venue(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    first = LiveDesk(tmp_path, client)
    async with running(first) as desk:
        kept = await desk.buy(quantity="0.01")
        filled_away = await desk.buy(price="49980000", quantity="0.01")
        await desk.until(
            lambda: desk.status(kept) == "accepted" and desk.status(filled_away) == "accepted"
        )
        client.fill(desk.core.oms.orders[kept].venue_order_id, 300_000, 49_990_000)
        await desk.until(lambda: desk.status(kept) == "partially_filled")
        # The engine dies with a submission journaled but never sent.
        client.unavailable = 1000
        desk.exchange.requests.max_attempts = 1000
        lost = await desk.buy(price="49970000")
        await desk.until(lambda: desk.core.oms.orders[lost].status.value == "submitted")
        filled_away_vid = desk.core.oms.orders[filled_away].venue_order_id
    client.unavailable = 0
    # While the engine is away: one order fills, someone places an order on the website.
    client.fill(filled_away_vid, 1_000_000, 49_980_000)
    foreign = client.add_foreign(BTC, 100_000)
    client.calls.clear()
    second = LiveDesk(tmp_path, client)
    assert second.core.restored_open_orders == 3
    async with running(second) as desk:
        await desk.until(lambda: desk.differences)
        await desk.until(lambda: desk.status(filled_away) == "filled")
        assert desk.status(lost) == "rejected"
        assert desk.status(kept) == "partially_filled"
        assert desk.core.oms.orders[kept].filled_raw == 300_000  # T1 not counted twice
        venue, lines = desk.differences[0]
        assert venue == "UPBIT"
        text = "\n".join(lines)
        assert f"order {filled_away} changed on UPBIT" in text
        assert f"order {lost} is open in the journal but unknown to UPBIT" in text
        assert f"order {foreign} on {BTC} is open on UPBIT but not in the journal" in text
        assert not any(kind == "place" for kind, _ in client.calls)


async def test_an_answer_lost_on_the_last_try_is_looked_up_not_rejected(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    desk = LiveDesk(tmp_path, client)
    desk.exchange.requests.max_attempts = 1  # the only try reaches the venue; its answer is lost
    async with running(desk):
        client.lose_next_place = True
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) != "submitted")
        # The order rests on the venue: the OMS must track it, not call it "not placed".
        assert desk.status(coid) == "accepted", desk.core.oms.orders[coid].reason
        assert desk.core.oms.orders[coid].venue_order_id == "V1"
        assert desk.exchange.open_order_ids() == {coid}


class LaggingTradesClient(FakeVenueClient):
    """Like Binance: the order's executed quantity is known before its trades are listed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hide_trades = 0
        """The next this many queries of an ended order list no trades (the executed quantity
        is there): polls of the open order before the cancel do not use them up."""

    async def query(self, order: Any, venue_order_id: str) -> Any:
        state = await super().query(order, venue_order_id)
        if self.hide_trades and state.status is not VenueOrderStatus.OPEN:
            self.hide_trades -= 1
            return dataclasses.replace(state, fills=())
        return state


async def test_a_fill_listed_late_on_a_cancelled_order_is_not_lost(tmp_path: Path) -> None:
    client = LaggingTradesClient(min_notional_raw=5_000 * 10**8)
    async with running(LiveDesk(tmp_path, client)) as desk:
        coid = await desk.buy(quantity="0.02")
        await desk.until(lambda: desk.status(coid) == "accepted")
        venue_order_id = desk.core.oms.orders[coid].venue_order_id
        client.fill(venue_order_id, 500_000, 49_990_000)
        client.hide_trades = 1  # the cancel's query sees 0.005 executed but no trade yet
        reply = await desk.command("order.cancel", client_order_id=coid)
        assert reply.status == "accepted", reply.reason
        await desk.until(lambda: desk.status(coid) == "canceled")
        assert desk.core.oms.orders[coid].filled_raw == 500_000
        assert desk.core.oms.positions[BTC].quantity_raw == 500_000


async def test_a_restored_unacknowledged_order_is_resolved_once_the_venue_answers(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    first = LiveDesk(tmp_path, client)
    async with running(first) as desk:
        client.unavailable = 1000
        desk.exchange.requests.max_attempts = 1000
        landed = await desk.buy()
        await desk.until(lambda: desk.status(landed) == "submitted")
        order = desk.core.oms.orders[landed]
        instrument = desk.market.get(InstrumentId(BTC)).instrument  # type: ignore[union-attr]
    # The request got there as the engine died.
    client.unavailable = 0
    venue_order_id = await client.place(order, instrument)
    # At the restart the venue does not answer the reconciliation; then it does.
    client.unavailable = 1
    second = LiveDesk(tmp_path, client)
    second.exchange.requests.max_attempts = 1
    async with running(second) as desk:
        await desk.until(lambda: desk.differences)
        client.fill(venue_order_id, 1_000_000, 49_990_000)
        await desk.until(lambda: desk.status(landed) == "filled")
        assert desk.core.oms.orders[landed].venue_order_id == venue_order_id


class GarbledAnswerClient(FakeVenueClient):
    """The venue takes the order, but its answer breaks the adapter's parsing (a bug)."""

    async def place(self, order: Any, instrument: Any) -> str:
        await super().place(order, instrument)
        raise KeyError("uuid")


async def test_an_order_whose_place_answer_broke_the_adapter_is_looked_up(
    tmp_path: Path,
) -> None:
    client = GarbledAnswerClient(min_notional_raw=5_000 * 10**8)
    async with running(LiveDesk(tmp_path, client)) as desk:
        coid = await desk.buy()
        await desk.until(lambda: desk.status(coid) == "accepted")
        client.fill(desk.core.oms.orders[coid].venue_order_id or "", 1_000_000, 49_990_000)
        await desk.until(lambda: desk.status(coid) == "filled")


async def test_the_router_forgets_orders_once_they_end(
    tmp_path: Path, client: FakeVenueClient
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        router = desk.core.exchange
        assert isinstance(router, VenueRouter)
        filled = await desk.buy(quantity="0.01")
        canceled = await desk.buy(price="49980000", quantity="0.01")
        await desk.until(lambda: desk.status(filled) == desk.status(canceled) == "accepted")
        assert set(router._venue_of_order) == {filled, canceled}
        client.fill(desk.core.oms.orders[filled].venue_order_id or "", 1_000_000, 49_990_000)
        await desk.until(lambda: desk.status(filled) == "filled")  # a last fill: no end event
        reply = await desk.command("order.cancel", client_order_id=canceled)
        assert reply.status == "accepted", reply.reason
        await desk.until(lambda: desk.status(canceled) == "canceled")
        desk.refresh()
        reply = await desk.command(
            "order.submit", instrument=SIM_BTC, side="buy", price="49000000", quantity="0.01"
        )
        assert reply.status == "accepted", reply.reason
        paper = reply.result["order"]["client_order_id"]
        await desk.until(lambda: desk.status(paper) == "accepted")
        await desk.until(lambda: not router._venue_of_order)
        # Routing still works for what is open: the paper order cancels on the paper exchange.
        reply = await desk.command("order.cancel", client_order_id=paper)
        assert reply.status == "accepted", reply.reason
        await desk.until(lambda: desk.status(paper) == "canceled")


async def test_a_fill_larger_than_the_rest_is_reported_once_and_the_order_closes(
    tmp_path: Path, client: FakeVenueClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(LiveDesk(tmp_path, client)) as desk:
        coid = await desk.buy(quantity="0.01")
        await desk.until(lambda: desk.status(coid) == "accepted")
        venue_order_id = desk.core.oms.orders[coid].venue_order_id or ""
        client.fill(venue_order_id, 600_000, 49_990_000)
        client.fill(venue_order_id, 600_000, 49_990_000)  # 0.012 on a 0.01 order
        record = client.orders[venue_order_id]
        record.state = dataclasses.replace(record.state, status=VenueOrderStatus.FILLED)
        await desk.until(lambda: desk.status(coid) == "filled")
        await asyncio.sleep(0.1)  # several polls
        desk.core.oms.pump(desk.clock.now_ns())
        assert desk.core.oms.orders[coid].filled_raw == 1_000_000
        assert desk.exchange.open_order_ids() == set()
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1, errors
        assert coid in errors[0] and "600000" in errors[0] and "1000000" in errors[0]
