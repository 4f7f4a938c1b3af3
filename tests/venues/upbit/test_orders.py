"""UpbitOrderClient against the loopback: lifecycle, rejections, rate limits, clock skew, auth."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from engine.config.secrets import Secret
from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK
from engine.domain.orders import OrderSide, TimeInForce
from engine.venues.base import VenueOrderStatus, VenueRejected, VenueUnavailable
from engine.venues.upbit import UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from tests.venues.upbit.support import ACCESS_KEY, SECRET_KEY, order

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def touch(server: UpbitLoopback, symbol: str = "KRW-BTC") -> tuple[Decimal, Decimal, Decimal]:
    """(best bid, best ask, size at the best ask) as the server publishes them."""
    bids, asks = server.published_book(symbol, 1)
    return bids[0][0], asks[0][0], asks[0][1]


async def balance(client: UpbitOrderClient, currency: str) -> tuple[Decimal, Decimal]:
    for item in await client.balances():
        if item.currency == currency:
            return item.free, item.locked
    return Decimal(0), Decimal(0)


async def test_limit_order_lifecycle_with_partial_fills(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    server.pause_market()
    _, best_ask, ask_size = touch(server)
    quantity = ask_size + Decimal("0.05")
    buy = order(btc, BUY, str(quantity), best_ask)
    venue_id = await client.place(buy, btc)

    # It took the whole best ask at once (taker) and rests with the rest: partially filled.
    state = await client.query(buy, venue_id)
    assert state.status is VenueOrderStatus.OPEN
    assert state.client_order_id == buy.client_order_id
    assert state.filled_raw == round(ask_size * 10**8)
    assert [(f.price_raw, f.quantity_raw, f.liquidity) for f in state.fills] == [
        (int(best_ask), round(ask_size * 10**8), "taker")
    ]
    assert [o.venue_order_id for o in await client.open_orders()] == [venue_id]

    # A seller prints at the resting bid and fills part of it (maker), through the loopback's
    # own print path. (Not the simulator's walk: where it goes after a pause depends on how long
    # the set-up took, and once it drifted up for the whole wait on a loaded machine.)
    position = server.symbols.index("KRW-BTC")
    now_ns = time.time_ns()
    seller = server.market.record_trade(position, now_ns, int(best_ask), 5_000_000, ASK)
    server.exchange.on_trades([seller], now_ns)

    async def more_fills() -> bool:
        nonlocal state
        state = await client.query(buy, venue_id)
        return len(state.fills) >= 2

    for _ in range(200):
        if await more_fills():
            break
        await asyncio.sleep(0.05)
    assert len(state.fills) >= 2, "the resting bid was never filled by the market"
    assert all(f.price_raw == int(best_ask) for f in state.fills)
    assert [f.liquidity for f in state.fills] == ["taker", "maker"]
    assert sum(f.quantity_raw for f in state.fills) == state.filled_raw

    if state.status is VenueOrderStatus.OPEN:
        await client.cancel(buy, venue_id)
        state = await client.query(buy, venue_id)
        assert state.status is VenueOrderStatus.CANCELED
    assert state.filled_raw > 0

    # Money reconciles exactly: KRW spent = fills' notional + fees; BTC received = fills.
    spent = sum(from_raw(f.price_raw * f.quantity_raw + f.fee_raw, 8) for f in state.fills)
    krw_free, krw_locked = await balance(client, "KRW")
    btc_free, _ = await balance(client, "BTC")
    assert krw_locked == 0
    assert krw_free == Decimal(1_000_000_000) - spent
    assert btc_free == from_raw(state.filled_raw, 8)


async def test_market_orders_buy_by_quantity_and_sell(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    buy = order(btc, BUY, "0.02")
    state = await client.query(buy, await client.place(buy, btc))
    assert state.status is VenueOrderStatus.FILLED
    assert state.filled_raw == 2_000_000
    sell = order(btc, SELL, "0.02")
    state = await client.query(sell, await client.place(sell, btc))
    assert state.status is VenueOrderStatus.FILLED
    assert state.filled_raw == 2_000_000
    assert await balance(client, "BTC") == (Decimal(0), Decimal(0))


async def test_ioc_remainder_is_cancelled_with_its_fills(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    server.pause_market()
    _, best_ask, ask_size = touch(server)
    ioc = order(btc, BUY, str(ask_size + 1), best_ask, tif=TimeInForce.IOC)
    state = await client.query(ioc, await client.place(ioc, btc))
    assert state.status is VenueOrderStatus.CANCELED
    assert state.filled_raw == round(ask_size * 10**8)
    assert await client.open_orders() == []


@pytest.mark.parametrize(
    ("side", "quantity", "price_offset", "code"),
    [
        (BUY, "0.001", 500, "invalid_price_bid"),  # 1,000 KRW ticks at ~100M KRW
        (BUY, "0.00001", 0, "under_min_total_bid"),  # ~1,000 KRW < 5,000 KRW
        (BUY, "50", 0, "insufficient_funds_bid"),  # ~5,000,000,000 KRW > balance
        (SELL, "0.001", 0, "insufficient_funds_ask"),  # no BTC at all
    ],
)
async def test_rejections_carry_the_venue_code(
    server: UpbitLoopback,
    client: UpbitOrderClient,
    instruments: list[Instrument],
    side: OrderSide,
    quantity: str,
    price_offset: int,
    code: str,
) -> None:
    btc = instruments[0]
    best_bid, _, _ = touch(server)
    rejected = order(btc, side, quantity, int(best_bid) - 10_000 + price_offset)
    with pytest.raises(VenueRejected) as caught:
        await client.place(rejected, btc)
    assert caught.value.code == code
    assert caught.value.message  # the venue's own words
    assert await client.open_orders() == []
    assert (await balance(client, "KRW"))[1] == 0, "a rejected order locks nothing"


async def test_unknown_order_and_bad_keys(
    server: UpbitLoopback,
    client: UpbitOrderClient,
    instruments: list[Instrument],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    btc = instruments[0]
    ghost = order(btc, BUY, "0.001", 90_000_000)
    with pytest.raises(VenueRejected) as caught:
        await client.cancel(ghost, "3e1f6a0c-2a5b-4c8e-9a0e-6f0d5b7c1a22")
    assert caught.value.code == "order_not_found"

    wrong = "wrong-secret-key-0123456789abcdef0123456789"
    forged = UpbitOrderClient(
        server.rest_url, access_key=Secret(ACCESS_KEY), secret_key=Secret(wrong)
    )
    try:
        with pytest.raises(VenueRejected) as caught:
            await forged.balances()
    finally:
        await forged.close()
    assert caught.value.code == "jwt_verification"
    assert wrong not in str(caught.value) and SECRET_KEY not in str(caught.value)
    assert wrong not in caplog.text and SECRET_KEY not in caplog.text
    assert "Bearer" not in caplog.text, "signed headers are never logged"


async def test_backs_off_before_the_limit_from_remaining_req(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    best_bid, _, _ = touch(server)
    far_below = int(best_bid) - 5_000_000  # rests, never fills
    started = time.monotonic()
    # 20 orders: whatever second boundary they straddle, one second holds more than 8.
    for _ in range(20):
        await client.place(order(btc, BUY, "0.001", far_below), btc)
    assert server.rate_windows.rejections == {429: 0, 418: 0}
    assert client.rest.throttled >= 1
    assert time.monotonic() - started >= 1.0
    assert len(await client.open_orders()) == 20


async def test_429_and_418_are_honoured_without_hammering(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    best_bid, _, _ = touch(server)
    resting = order(btc, BUY, "0.001", int(best_bid) - 5_000_000)
    server.inject_rate_limit(429, retry_after_s=1)
    with pytest.raises(VenueUnavailable) as caught:
        await client.place(resting, btc)
    assert caught.value.retry_after_s == pytest.approx(1.0)
    reached = server.requests["/v1/orders"]
    with pytest.raises(VenueUnavailable):  # held locally: does not reach the venue
        await client.place(resting, btc)
    assert server.requests["/v1/orders"] == reached
    await asyncio.sleep(caught.value.retry_after_s)
    assert await client.place(resting, btc)

    server.inject_rate_limit(418)  # no Retry-After: a long default
    with pytest.raises(VenueUnavailable) as caught:
        await client.balances()
    assert caught.value.retry_after_s >= 30


async def test_clock_skew_is_measured_and_fill_times_corrected(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    server.set_clock_skew(45.0)
    buy = order(btc, BUY, "0.001")
    venue_id = await client.place(buy, btc)  # Upbit checks no timestamps: accepted
    state = await client.query(buy, venue_id)
    assert abs(client.rest.clock_offset_ns - 45_000_000_000) < 2_000_000_000
    assert state.fills
    for fill in state.fills:
        assert abs(fill.ts - time.time_ns()) < 5_000_000_000, "fill time on the local clock"
    server.set_clock_skew(0.0)
    await client.balances()
    assert client.rest.clock_offset_ns == 0


async def test_orders_are_found_by_client_id_after_a_lost_reply(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    btc = instruments[0]
    best_bid, _, _ = touch(server)
    placed = order(btc, BUY, "0.001", int(best_bid) - 5_000_000)
    venue_id = await client.place(placed, btc)
    state = await client.query(placed, "")  # no venue id: look it up by identifier
    assert state.venue_order_id == venue_id
    assert state.status is VenueOrderStatus.OPEN


async def test_loopback_speaks_to_pyupbit_itself(server: UpbitLoopback) -> None:
    """pyupbit's own signing and requests (form body on GET, HS256) work against the loopback."""
    import pyupbit
    from pyupbit.request_api import _send_get_request

    signer = pyupbit.Upbit(ACCESS_KEY, SECRET_KEY)
    params = {"market": "KRW-BTC"}
    chance, limits = await asyncio.to_thread(
        _send_get_request,
        f"{server.rest_url}/orders/chance",
        headers=signer._request_headers(params),
        data=params,
    )
    assert chance["market"]["bid"]["min_total"] == "5000"
    assert limits["group"] == "default" and limits["sec"] < 30


async def test_loopback_answers_a_burst_with_429_then_418(server: UpbitLoopback) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        replies = [
            await http.get(f"{server.rest_url}/orderbook", params={"markets": "KRW-BTC"})
            for _ in range(25)
        ]
    statuses = [reply.status_code for reply in replies]
    assert 429 in statuses, "25 requests inside two seconds exceed 10 a second"
    first = statuses.index(429)
    assert replies[first].text == "Too many API requests."
    assert 418 in statuses[first + 1 :], "continuing after a 429 earns a 418 ban"
    assert replies[0].headers["Remaining-Req"].startswith("group=orderbook; min=600; sec=")


async def test_a_second_place_with_the_same_identifier_is_refused(
    server: UpbitLoopback, client: UpbitOrderClient, instruments: list[Instrument]
) -> None:
    """What makes sending a place again after a lost answer safe (``rejects_duplicate_ids``)."""
    assert client.rejects_duplicate_ids is True
    btc = instruments[0]
    server.pause_market()
    best_bid, _, _ = touch(server)
    buy = order(btc, BUY, "0.001", best_bid)
    venue_id = await client.place(buy, btc)
    with pytest.raises(VenueRejected):
        await client.place(buy, btc)
    assert list(server.exchange.orders) == [venue_id]
