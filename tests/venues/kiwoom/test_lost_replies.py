"""Kiwoom has no client order id: an order whose place answer was lost is found by matching."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.domain.clock import LiveClock
from engine.domain.orders import OrderAccepted, OrderRejected, OrderSide, OrderType
from engine.market_state import MarketState
from engine.venues.base import VenueOrderStatus, VenueRejected, VenueUnavailable
from engine.venues.kiwoom import KiwoomOrderClient, wire
from engine.venues.live_exchange import LiveExchange
from tests.venues.kiwoom.helpers import credentials, eventually, loopback
from tests.venues.kiwoom.test_orders import SAMSUNG, client_for, order


def lose_place_answers(client: KiwoomOrderClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every order request reaches the venue while its answer is lost (a read timeout)."""
    rest = client.rest
    post = rest.post
    lost: list[int] = []

    async def losing(path: str, api_id: str, body: dict[str, Any], **kwargs: Any) -> Any:
        answer = await post(path, api_id, body, **kwargs)
        if api_id in (wire.BUY, wire.SELL) and not lost:
            lost.append(1)
            raise VenueUnavailable("read timeout")
        return answer

    monkeypatch.setattr(rest, "post", losing)
    return lost


async def test_a_placed_order_whose_answer_was_lost_is_found_not_sent_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback() as server:
        server.paused = True  # a still book: the order rests
        client = client_for(server)
        lost = lose_place_answers(client, monkeypatch)
        market = MarketState()
        market.add(SAMSUNG)
        exchange = LiveExchange(client, market, LiveClock(), poll_interval_ns=20_000_000)
        best_bid = server.book("005930")[0][0][0]
        buy = order(OrderSide.BUY, 3, best_bid)
        worker = asyncio.create_task(exchange.run())
        try:
            await eventually(lambda: exchange.reconciled, what="reconciliation")
            exchange.submit(buy, 0)
            events: list[Any] = []
            await eventually(lambda: bool(events.extend(exchange.drain()) or events), what="answer")
            await asyncio.sleep(0.1)  # a few polls
            events.extend(exchange.drain())
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        assert lost == [1]
        (number,) = server.desk.orders  # placed once
        assert [type(e) for e in events] == [OrderAccepted], events
        assert events[0].venue_order_id == number
        assert exchange.open_order_ids() == {buy.client_order_id}  # tracked while it rests


async def test_a_filled_order_whose_answer_was_lost_is_found_with_its_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback() as server:
        server.paused = True
        client = client_for(server)
        lose_place_answers(client, monkeypatch)
        sell = order(OrderSide.SELL, 5, order_type=OrderType.MARKET)
        with pytest.raises(VenueUnavailable):
            await client.place(sell, SAMSUNG)
        state = await client.query(sell, "")
        (number,) = server.desk.orders
        assert (state.venue_order_id, state.status, state.filled_raw) == (
            number, VenueOrderStatus.FILLED, 5,
        )  # fmt: skip
        assert state.client_order_id == sell.client_order_id
        await client.close()


async def test_an_order_that_never_landed_is_not_claimed(monkeypatch: pytest.MonkeyPatch) -> None:
    async with loopback() as server:
        server.paused = True
        best_bid = server.book("005930")[0][0][0]
        client = client_for(server, settle_s=0.3)
        placed = order(OrderSide.BUY, 3, best_bid)
        await client.place(placed, SAMSUNG)

        async def unreachable(*_: Any, **__: Any) -> Any:
            raise VenueUnavailable("connection refused")

        monkeypatch.setattr(client.rest, "post", unreachable)
        twin = order(OrderSide.BUY, 3, best_bid)  # the same order: its request never got there
        with pytest.raises(VenueUnavailable):
            await client.place(twin, SAMSUNG)
        monkeypatch.undo()
        # Not the other order's row. Settling: unknown (asked again), never "not placed".
        with pytest.raises(VenueUnavailable):
            await client.query(twin, "")
        await asyncio.sleep(0.35)
        with pytest.raises(VenueRejected):
            await client.query(twin, "")
        assert len(server.desk.orders) == 1
        await client.close()


async def run_one(exchange: LiveExchange, buy: Any, until: Any) -> list[Any]:
    """Submit ``buy`` to a running exchange; the events once ``until(events)`` holds."""
    worker = asyncio.create_task(exchange.run())
    events: list[Any] = []
    try:
        await eventually(lambda: exchange.reconciled, what="reconciliation")
        exchange.submit(buy, 0)
        await eventually(lambda: bool(events.extend(exchange.drain()) or until(events)), what="end")
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    return events


async def test_a_landed_order_not_listed_yet_is_never_placed_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback() as server:
        server.paused = True
        client = client_for(server)
        assert client.rejects_duplicate_ids is False
        lost = lose_place_answers(client, monkeypatch)
        # The order landed, but the next two look-ups do not see it listed yet.
        hidden = [0]
        open_rows, execution_rows = client._open_rows, client._execution_rows

        async def late_open(code: str) -> list[dict[str, Any]]:
            return [] if lost and hidden[0] < 2 else await open_rows(code)

        async def late_executions(code: str) -> list[dict[str, Any]]:
            if lost and hidden[0] < 2:
                hidden[0] += 1
                return []
            return await execution_rows(code)

        monkeypatch.setattr(client, "_open_rows", late_open)
        monkeypatch.setattr(client, "_execution_rows", late_executions)
        market = MarketState()
        market.add(SAMSUNG)
        exchange = LiveExchange(client, market, LiveClock(), poll_interval_ns=20_000_000)
        buy = order(OrderSide.BUY, 3, server.book("005930")[0][0][0])
        events = await run_one(exchange, buy, lambda events: events)
        assert hidden == [2]
        (number,) = server.desk.orders  # placed once, not twice
        assert [type(e) for e in events] == [OrderAccepted], events
        assert events[0].venue_order_id == number


async def test_a_request_lost_on_its_way_is_rejected_as_not_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback() as server:
        server.paused = True
        client = client_for(server, settle_s=0.3)
        rest = client.rest
        post = rest.post
        sent: list[str] = []

        async def dropping(path: str, api_id: str, body: dict[str, Any], **kwargs: Any) -> Any:
            if api_id in (wire.BUY, wire.SELL):
                sent.append(api_id)
                raise VenueUnavailable("read timeout")  # never got there
            return await post(path, api_id, body, **kwargs)

        monkeypatch.setattr(rest, "post", dropping)
        market = MarketState()
        market.add(SAMSUNG)
        exchange = LiveExchange(client, market, LiveClock(), poll_interval_ns=20_000_000)
        buy = order(OrderSide.BUY, 3, server.book("005930")[0][0][0])
        events = await run_one(exchange, buy, lambda events: events)
        assert sent == [wire.BUY]  # tried once: a resend could have been a second order
        assert server.desk.orders == {}
        assert [type(e) for e in events] == [OrderRejected], events
        assert "not placed" in events[0].reason
        assert exchange.open_order_ids() == set()


async def test_a_refused_connection_is_unsent_so_the_place_may_be_sent_again() -> None:
    async with loopback() as server:
        url = server.rest_url
    client = KiwoomOrderClient(url, **credentials(), requests_per_second=200.0)  # type: ignore[arg-type]
    with pytest.raises(VenueUnavailable) as caught:
        await client.place(order(OrderSide.BUY, 1, 70_000), SAMSUNG)
    assert caught.value.unsent
    await client.rest.close()


async def test_ended_orders_are_forgotten_and_never_claimed_by_a_lost_twin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback() as server:
        server.paused = True
        client = client_for(server, settle_s=0.3)
        best_bid = server.book("005930")[0][0][0]
        market_sell = order(OrderSide.SELL, 5, order_type=OrderType.MARKET)
        sold = await client.place(market_sell, SAMSUNG)
        resting = order(OrderSide.BUY, 3, best_bid)
        number = await client.place(resting, SAMSUNG)
        assert set(client._placed) == {sold, number}
        assert (await client.query(market_sell, sold)).status is VenueOrderStatus.FILLED
        await client.cancel(resting, number)
        assert (await client.query(resting, number)).status is VenueOrderStatus.CANCELED
        assert client._placed == {}  # ended and reported: forgotten
        # Asked again, they answer the same.
        assert (await client.query(market_sell, sold)).status is VenueOrderStatus.FILLED
        assert (await client.query(resting, number)).status is VenueOrderStatus.CANCELED

        async def unreachable(*_: Any, **__: Any) -> Any:
            raise VenueUnavailable("read timeout")

        monkeypatch.setattr(client.rest, "post", unreachable)
        twin = order(OrderSide.BUY, 3, best_bid)  # like the cancelled one; it never got there
        with pytest.raises(VenueUnavailable):
            await client.place(twin, SAMSUNG)
        monkeypatch.undo()
        await asyncio.sleep(0.35)
        with pytest.raises(VenueRejected):  # the cancelled order's row is not the twin's
            await client.query(twin, "")
        await client.close()
