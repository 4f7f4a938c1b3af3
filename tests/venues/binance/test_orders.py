"""BinanceOrderClient against the loopback server: signed REST, order lifecycle, rejections."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from decimal import ROUND_CEILING, Decimal

import pytest

from engine.config.secrets import Secret
from engine.domain.fixed_point import to_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderSide, OrderSubmitted, OrderType, TimeInForce
from engine.domain.tick_table import TickTable
from engine.venues.base import VenueOrderStatus, VenueRejected, VenueUnavailable
from engine.venues.binance import BinanceFeed, BinanceOrderClient
from engine.venues.binance.loopback import BinanceLoopback
from engine.venues.binance.loopback_market import PublicTrade
from tests.venues.binance.conftest import API_KEY

_ids = itertools.count(1)


async def btc(server: BinanceLoopback) -> Instrument:
    feed = BinanceFeed(server.rest_url, server.ws_url)
    try:
        (instrument,) = await feed.load_instruments(["BTCUSDT"])
    finally:
        await feed.close()
    return instrument


def order(
    instrument: Instrument,
    side: OrderSide,
    quantity: str,
    price: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
) -> Order:
    return Order(
        OrderSubmitted(
            ts=1,
            client_order_id=f"stom-test-{next(_ids)}",
            instrument_id=instrument.id,
            side=side,
            order_type=OrderType.LIMIT if price else OrderType.MARKET,
            time_in_force=tif,
            quantity_raw=to_raw(quantity, instrument.size_precision),
            price_raw=to_raw(price, instrument.price_precision) if price else 0,
        )
    )


async def test_limit_order_fills_partly_rests_and_cancels(
    server: BinanceLoopback, client: BinanceOrderClient
) -> None:
    instrument = await btc(server)
    server.pause_market()
    asks = server.book("BTCUSDT")[1]
    # Buy through the first three ask levels and a bit more: they fill (taker), the rest rests.
    limit = Decimal(asks[2][0])
    available = sum(Decimal(q) for _, q in asks[:3])
    quantity = available + Decimal("0.01")
    buy = order(instrument, OrderSide.BUY, str(quantity), str(limit))
    venue_id = await client.place(buy, instrument)

    state = await client.query(buy, venue_id)
    assert state.status is VenueOrderStatus.OPEN
    assert state.client_order_id == buy.client_order_id and state.venue_order_id == venue_id
    # Sizes at BTC's own precision (8), so a base-asset commission is exact.
    assert state.filled_raw == to_raw(available, 8)
    assert [(f.price_raw, f.quantity_raw) for f in state.fills] == [
        (to_raw(p, 2), to_raw(q, 8)) for p, q in asks[:3]
    ]
    assert all(f.liquidity == "taker" for f in state.fills)
    # 0.1 % commission in BTC, rounded up to BTC's 8 places: booked in BTC (withheld from what
    # the account holds), and valued in USDT at the fill price, exactly (notional scale 2 + 8).
    first = state.fills[0]
    commission = (Decimal(asks[0][1]) * Decimal("0.001")).quantize(Decimal("1E-8"), ROUND_CEILING)
    assert (first.fee_asset, Decimal(first.fee_charged)) == ("BTC", commission)
    assert first.fee_base_raw == to_raw(commission, 8)
    assert first.fee_raw == first.price_raw * first.fee_base_raw

    listed = await client.open_orders()
    assert [o.venue_order_id for o in listed] == [venue_id]
    usdt = {b.currency: b for b in await client.balances()}["USDT"]
    assert usdt.locked == limit * Decimal("0.01")

    await client.cancel(buy, venue_id)
    final = await client.query(buy, venue_id)
    assert final.status is VenueOrderStatus.CANCELED
    assert final.filled_raw == state.filled_raw and len(final.fills) == 3
    assert await client.open_orders() == []
    usdt = {b.currency: b for b in await client.balances()}["USDT"]
    assert usdt.locked == 0


async def test_a_resting_order_fills_as_the_market_trades_through_it(
    server: BinanceLoopback, client: BinanceOrderClient
) -> None:
    instrument = await btc(server)
    server.pause_market()
    best_bid = Decimal(server.book("BTCUSDT")[0][0][0])
    price = best_bid + Decimal("0.5")
    buy = order(instrument, OrderSide.BUY, "0.001", str(price))
    venue_id = await client.place(buy, instrument)
    # A seller hits bids down through our price (the random market may wander off for longer
    # than a test waits): the resting order fills as a maker.
    now_ms = server.server_time_ms()
    through = PublicTrade(server.market.next_trade_id(), int(price.scaleb(8)), 10**8, now_ms, True)
    server.exchange.match_resting([("BTCUSDT", through)], now_ms)
    for _ in range(400):
        state = await client.query(buy, venue_id)
        if state.filled_raw:
            break
        await asyncio.sleep(0.05)
    assert state.filled_raw > 0
    assert state.fills[0].liquidity == "maker"
    assert state.fills[0].price_raw == to_raw(price, 2)


async def test_rejections_carry_the_venues_codes(
    server: BinanceLoopback, client: BinanceOrderClient
) -> None:
    instrument = await btc(server)
    price = server.book("BTCUSDT")[0][5][0]
    # A stale rule set that allows a finer price than the venue's tickSize (0.01).
    fine_prices = dataclasses.replace(instrument, price_precision=3, tick_table=TickTable.flat(1))
    off_tick = order(fine_prices, OrderSide.BUY, "0.001", "100000.005")
    with pytest.raises(VenueRejected) as rejected:
        await client.place(off_tick, fine_prices)
    assert (rejected.value.code, rejected.value.message) == (
        "-1013",
        "Filter failure: PRICE_FILTER",
    )

    fine_sizes = dataclasses.replace(instrument, size_precision=8)
    off_step = order(fine_sizes, OrderSide.BUY, "0.000015", price)
    with pytest.raises(VenueRejected, match=r"-1013: Filter failure: LOT_SIZE"):
        await client.place(off_step, fine_sizes)

    tiny = order(instrument, OrderSide.BUY, "0.00001", price)  # about 1 USDT < 5 USDT minimum
    with pytest.raises(VenueRejected, match=r"-1013: Filter failure: NOTIONAL"):
        await client.place(tiny, instrument)

    too_big = order(instrument, OrderSide.BUY, "50", price)  # 5,000,000 USDT > 1,000,000 held
    with pytest.raises(VenueRejected) as rejected:
        await client.place(too_big, instrument)
    assert rejected.value.code == "-2010"
    assert rejected.value.message == "Account has insufficient balance for requested action."

    unknown = order(instrument, OrderSide.BUY, "0.001", price)
    with pytest.raises(VenueRejected, match=r"-2011: Unknown order sent."):
        await client.cancel(unknown, "")
    with pytest.raises(VenueRejected, match=r"-2013: Order does not exist."):
        await client.query(unknown, "")


async def test_a_wrong_secret_is_refused_and_never_shown(server: BinanceLoopback) -> None:
    wrong = "not-the-secret-71c3"
    client = BinanceOrderClient(server.rest_url, api_key=Secret(API_KEY), api_secret=Secret(wrong))
    try:
        with pytest.raises(VenueRejected) as rejected:
            await client.balances()
        assert rejected.value.code == "-1022"
        assert wrong not in str(rejected.value) and wrong not in repr(client.rest.client.__dict__)
    finally:
        await client.close()


async def test_429_backs_off_for_retry_after_without_hitting_the_venue(
    server: BinanceLoopback, client: BinanceOrderClient
) -> None:
    await client.balances()
    server.inject_rate_limit(status=429, retry_after_s=1)
    with pytest.raises(VenueUnavailable) as unavailable:
        await client.balances()
    assert unavailable.value.retry_after_s == 1.0
    sent = len(server.requests)
    with pytest.raises(VenueUnavailable):
        await client.balances()
    assert len(server.requests) == sent  # held back locally while Retry-After runs
    await asyncio.sleep(1.05)
    assert await client.balances()
    assert [r.status for r in server.requests].count(429) == 1


async def test_418_ban_is_honoured(server: BinanceLoopback, client: BinanceOrderClient) -> None:
    server.inject_rate_limit(status=418, retry_after_s=120)
    with pytest.raises(VenueUnavailable, match="418") as unavailable:
        await client.balances()
    assert unavailable.value.retry_after_s == 120.0
    with pytest.raises(VenueUnavailable):
        await client.balances()
    assert [r.status for r in server.requests] == [418]  # the second call never left


async def test_requests_stop_before_the_weight_limit() -> None:
    server = BinanceLoopback(symbols=["BTCUSDT"], api_key="k", api_secret="s", weight_limit=100)
    await server.start()
    client = BinanceOrderClient(
        server.rest_url, api_key=Secret("k"), api_secret=Secret("s"), weight_limit=100
    )
    try:
        with pytest.raises(VenueUnavailable, match="holding back") as unavailable:
            for _ in range(20):
                await client.balances()  # weight 20 each
        assert 0 <= unavailable.value.retry_after_s <= 60
        assert client.rest.used_weight <= 100
        assert all(r.status == 200 for r in server.requests)  # the venue never had to say 429
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("skew_ms", [30_000, -5_000])
async def test_clock_skew_is_measured_and_the_request_retried(
    server: BinanceLoopback, client: BinanceOrderClient, skew_ms: int
) -> None:
    await client.balances()  # measures the offset (0 here)
    server.set_clock_skew(skew_ms)
    assert await client.balances()
    codes = [r.code for r in server.requests]
    assert codes.count(-1021) == 1  # refused once, then the offset was measured again
    assert abs(client.rest.timestamp_offset_ms - skew_ms) < 1000


async def test_a_second_place_with_the_same_client_order_id_is_refused(
    server: BinanceLoopback, client: BinanceOrderClient
) -> None:
    """What makes sending a place again after a lost answer safe (``rejects_duplicate_ids``)."""
    assert client.rejects_duplicate_ids is True
    instrument = await btc(server)
    server.pause_market()
    best_bid = server.book("BTCUSDT")[0][0][0]
    buy = order(instrument, OrderSide.BUY, "0.001", str(best_bid))
    venue_id = await client.place(buy, instrument)
    with pytest.raises(VenueRejected, match="-2010"):
        await client.place(buy, instrument)
    assert [str(number) for number in server.exchange.orders] == [venue_id]
