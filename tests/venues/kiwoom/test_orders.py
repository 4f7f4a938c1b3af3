"""KiwoomOrderClient against the Kiwoom loopback server: orders, refusals, limits, tokens."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from engine.domain.clock import TestClock
from engine.domain.orders import Order, OrderSide, OrderSubmitted, OrderType, TimeInForce
from engine.venues.base import VenueOrderStatus, VenueRejected, VenueUnavailable
from engine.venues.kiwoom import KiwoomOrderClient, wire
from engine.venues.kiwoom.loopback import KiwoomLoopback
from engine.venues.kiwoom.rules import krx_instrument
from tests.venues.kiwoom.helpers import APP_KEY, SECRET_KEY, credentials, loopback

SAMSUNG = krx_instrument("005930", "Samsung Electronics")
_ids = iter(range(1, 10_000))


def order(
    side: OrderSide,
    quantity: int,
    price: int = 0,
    order_type: OrderType = OrderType.LIMIT,
    tif: TimeInForce = TimeInForce.GTC,
) -> Order:
    return Order(
        OrderSubmitted(
            ts=0, client_order_id=f"C-{next(_ids)}", instrument_id="005930.KRX", side=side,
            order_type=order_type, time_in_force=tif, quantity_raw=quantity, price_raw=price,
        )
    )  # fmt: skip


def client_for(server: KiwoomLoopback, **options: object) -> KiwoomOrderClient:
    options.setdefault("requests_per_second", 200.0)
    return KiwoomOrderClient(server.rest_url, **credentials(), **options)  # type: ignore[arg-type]


async def test_order_lifecycle_with_a_partial_fill_then_cancel() -> None:
    async with loopback(cash=20_000_000_000) as server:
        server.paused = True  # a still book, so the crossing size is known
        client = client_for(server)
        (best_ask, ask_size), (next_ask, _) = server.book("005930")[1][:2]
        buy = order(OrderSide.BUY, ask_size + 7, best_ask)
        number = await client.place(buy, SAMSUNG)
        state = await client.query(buy, number)
        assert state.status is VenueOrderStatus.OPEN and state.filled_raw == ask_size
        (fill,) = state.fills
        assert (fill.price_raw, fill.quantity_raw, fill.client_order_id) == (
            best_ask, ask_size, buy.client_order_id,
        )  # fmt: skip
        assert fill.fee_raw == best_ask * ask_size * 15 // 100_000  # commission, no tax on a buy
        assert next_ask > best_ask
        (listed,) = await client.open_orders()
        assert (listed.venue_order_id, listed.client_order_id, listed.filled_raw) == (
            number, buy.client_order_id, ask_size,
        )  # fmt: skip
        await client.cancel(buy, number)
        state = await client.query(buy, number)
        assert state.status is VenueOrderStatus.CANCELED and state.filled_raw == ask_size
        assert await client.open_orders() == []
        balances = {b.currency: b for b in await client.balances()}
        assert balances["005930"].free == Decimal(1000 + ask_size)
        spent = best_ask * ask_size + fill.fee_raw
        assert balances["KRW"].free == Decimal(20_000_000_000 - spent)
        await client.close()


async def test_resting_order_fills_from_market_trades() -> None:
    async with loopback(rate=1500.0) as server:
        client = client_for(server)
        best_bid = server.book("005930")[0][0][0]
        buy = order(OrderSide.BUY, 20, best_bid)
        number = await client.place(buy, SAMSUNG)
        deadline = time.monotonic() + 20
        state = await client.query(buy, number)
        while state.filled_raw == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            state = await client.query(buy, number)
        assert state.filled_raw > 0, "a seller hitting the bid fills the resting order"
        assert all(fill.price_raw == best_bid for fill in state.fills)
        assert sum(f.quantity_raw for f in state.fills) == state.filled_raw
        await client.close()


async def test_market_sell_pays_commission_and_tax() -> None:
    async with loopback() as server:
        server.paused = True
        client = client_for(server)
        best_bid, bid_size = server.book("005930")[0][0]
        sell = order(OrderSide.SELL, min(10, bid_size), order_type=OrderType.MARKET)
        number = await client.place(sell, SAMSUNG)
        state = await client.query(sell, number)
        assert state.status is VenueOrderStatus.FILLED
        notional = best_bid * sell.quantity_raw
        assert state.fills[0].fee_raw == notional * 15 // 100_000 + notional * 20 // 10_000
        await client.close()


@pytest.mark.parametrize(
    ("side", "quantity", "price", "code"),
    [
        (OrderSide.BUY, 1, 70_050, wire.DESK_TICK_SIZE),  # tick is 100 from 50,000 up
        (OrderSide.BUY, 1, 91_100, wire.DESK_PRICE_LIMIT),  # above the +30 % limit (91,000)
        (OrderSide.SELL, 1, 48_900, wire.DESK_PRICE_LIMIT),  # below the -30 % limit (49,000)
        (OrderSide.BUY, 10_000, 70_000, wire.DESK_INSUFFICIENT_CASH),  # 700 M > 100 M of cash
        (OrderSide.SELL, 1_001, 70_000, wire.DESK_INSUFFICIENT_SHARES),  # 1,000 held
    ],
)
async def test_refusals_carry_the_venue_code_and_message(
    side: OrderSide, quantity: int, price: int, code: str
) -> None:
    async with loopback() as server:
        client = client_for(server)
        with pytest.raises(VenueRejected) as caught:
            await client.place(order(side, quantity, price), SAMSUNG)
        assert caught.value.code == code
        assert caught.value.message.startswith(f"[2000]({code}:")
        await client.close()


async def test_cancel_of_an_unknown_order_is_refused() -> None:
    async with loopback() as server:
        client = client_for(server)
        with pytest.raises(VenueRejected) as caught:
            await client.cancel(order(OrderSide.BUY, 1, 70_000), "9999999")
        assert caught.value.code == wire.DESK_NO_ORDER
        await client.close()


async def test_rate_limit_answer_pauses_every_request_then_recovers() -> None:
    async with loopback() as server:
        client = client_for(server)
        server.rate_limit(1)
        with pytest.raises(VenueUnavailable) as caught:
            await client.balances()
        assert caught.value.retry_after_s >= 0.9
        sent = len(server.requests)
        with pytest.raises(VenueUnavailable):  # still paused: nothing goes out
            await client.balances()
        assert len(server.requests) == sent
        await asyncio.sleep(caught.value.retry_after_s)
        assert {b.currency for b in await client.balances()} >= {"KRW", "005930"}
        assert server.rate_limited == 1
        await client.close()


async def test_pacing_keeps_under_the_venue_limit() -> None:
    async with loopback(requests_per_second=10) as server:
        client = client_for(server, requests_per_second=8)
        await client.rest.token()
        for _ in range(14):
            await client.open_orders()  # two TRs each
        assert server.rate_limited == 0
        await client.close()


async def test_token_expiry_is_judged_on_the_server_clock() -> None:
    clock = TestClock(time.time_ns())
    async with loopback(clock=clock, token_ttl_s=600) as server:
        server.skew_s = 3600.0  # the server's clock is an hour ahead of ours
        client = client_for(server, clock=clock, renew_margin_s=60)
        await client.balances()
        assert server.tokens_issued == 1
        assert abs(client.rest.clock_offset_s - 3600) < 2
        clock.advance(560 * wire.NS)  # 40 s of the token left on the server's clock
        await client.balances()
        assert server.tokens_issued == 2, "renewed ahead of expiry, not after a refusal"
        assert wire.BAD_TOKEN not in server.refused_tokens
        await client.close()


async def test_a_refused_token_is_replaced_once_and_the_call_succeeds() -> None:
    async with loopback() as server:
        client = client_for(server)
        await client.balances()
        server.expire_tokens()
        await client.balances()
        assert server.tokens_issued == 2 and server.refused_tokens == [wire.BAD_TOKEN]
        await client.close()


async def test_secrets_never_reach_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with loopback() as server:
        client = client_for(server)
        await client.balances()
        server.expire_tokens()
        with pytest.raises(VenueRejected) as caught:
            await client.place(order(OrderSide.BUY, 1, 70_050), SAMSUNG)
        await client.close()
    text = caplog.text + str(caught.value) + repr(client.__dict__)
    assert APP_KEY not in text and SECRET_KEY not in text
