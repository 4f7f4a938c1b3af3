"""Binance's user data stream (WebSocket API ``userDataStream.subscribe.signature``) through the
real adapter and live exchange, against the loopback's ``/ws-api/v3`` served from its exchange
state (see tests/venues/private_streams_support.py for the desk)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import websockets

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.market_state import MarketState
from engine.venues.base import VenueUnavailable
from engine.venues.binance import BinanceFeed, BinanceOrderClient
from engine.venues.binance.loopback import BinanceLoopback
from engine.venues.binance.loopback_market import PublicTrade
from engine.venues.binance.private_stream import BinancePrivateStream, private_stream, ws_api_url
from tests.support.trading_desk import serving
from tests.venues.private_streams_support import POLL_S, StreamDesk, running

API_KEY = "private-binance-key-4f1c9a"
API_SECRET = "private-binance-secret-8d2e7b55"
BTC = "BTCUSDT.BINANCE"


def print_through(server: BinanceLoopback, desk: StreamDesk, price_raw: int, size: str) -> None:
    """A trade on the venue where the seller took a resting bid at ``price_raw`` (maker fill)."""
    state = desk.market.get(InstrumentId(desk.instrument_id))
    assert state is not None
    price_e8 = price_raw * 10 ** (8 - state.instrument.price_precision)
    qty_e8 = int(Decimal(size).scaleb(8))
    now_ms = server.server_time_ms()
    trade = PublicTrade(server.market.next_trade_id(), price_e8, qty_e8, now_ms, True)
    server.exchange.match_resting([("BTCUSDT", trade)], now_ms)
    server.user_data.sync()  # the venue pushes at once (the loopback's tick would add 0.1 s)


def venue_trade_ids(server: BinanceLoopback, desk: StreamDesk, coid: str) -> list[str]:
    order = server.exchange.orders[int(desk.order(coid).venue_order_id or 0)]
    return [str(fill.trade_id) for fill in order.fills]


async def open_desk(
    server: BinanceLoopback, tmp_path: Path, *, stream: bool = True, poll_s: float = POLL_S
) -> StreamDesk:
    clock = LiveClock()
    market = MarketState()
    feed = BinanceFeed(server.rest_url, server.ws_url, clock, backoff_initial_s=0.05, seed=1)
    instruments = await feed.load_instruments(["BTCUSDT"])
    for instrument in instruments:
        market.add(instrument)
    key, secret = Secret(API_KEY), Secret(API_SECRET)
    client = BinanceOrderClient(server.rest_url, clock=clock, instruments=instruments,
                                api_key=key, api_secret=secret)  # fmt: skip
    private = private_stream(server.ws_url, client=client, clock=clock, instruments=instruments,
                             api_key=key, api_secret=secret)  # fmt: skip
    private.backoff = Backoff(0.05, 0.2)

    def queries() -> int:
        paths = ("order", "openOrders", "myTrades")
        return sum(1 for r in server.requests if r.method == "GET" and r.path in paths)

    return StreamDesk(venue="BINANCE", instrument_id=BTC, clock=clock, market=market, feed=feed,
                      client=client, stream=private if stream else None, queries=queries,
                      requests=lambda: len(server.requests),
                      tmp_path=tmp_path, poll_s=poll_s)  # fmt: skip


@pytest.fixture
async def server() -> AsyncIterator[BinanceLoopback]:
    started = BinanceLoopback(seed=3, symbols=["BTCUSDT"], api_key=API_KEY,
                              api_secret=API_SECRET, warmup_s=10.0)  # fmt: skip
    async with serving(started):
        yield started


@pytest.fixture
async def desk(server: BinanceLoopback, tmp_path: Path) -> AsyncIterator[StreamDesk]:
    opened = await open_desk(server, tmp_path)
    async for running_desk in running(opened, ["BTCUSDT"], server.pause_market):
        yield running_desk


def test_the_ws_api_url_sits_next_to_the_stream_url() -> None:
    assert ws_api_url("wss://stream.binance.com:9443") == "wss://ws-api.binance.com:443/ws-api/v3"
    assert (
        ws_api_url("wss://stream.testnet.binance.vision")
        == "wss://ws-api.testnet.binance.vision/ws-api/v3"
    )
    assert ws_api_url("ws://127.0.0.1:8801") == "ws://127.0.0.1:8801/ws-api/v3"


async def test_a_fill_reaches_the_engine_by_the_stream_and_is_reported_once(
    server: BinanceLoopback, desk: StreamDesk
) -> None:
    coid, price = await desk.resting_bid("0.004")
    queries = desk.queries()
    fill = await desk.fill_by_stream(
        coid, lambda: print_through(server, desk, price, "0.001"), "the stream"
    )
    assert [fill.trade_id] == venue_trade_ids(server, desk, coid)  # myTrades' id
    assert fill.liquidity == "maker"
    assert desk.exchange.venue_balances["BTC"].free > 0  # outboundAccountPosition

    # A cancel: the stream's CANCELED report (its "c" is the cancel's own id, the order's is
    # in "C") and the query after the cancel both report the end and list the fill: once each.
    assert (await desk.command("order.cancel", client_order_id=coid)).status == "accepted"
    await desk.until(lambda: desk.order(coid).status.value == "canceled")
    await desk.until(lambda: desk.queries() > queries)
    await desk.settle()
    assert len(desk.cancels(coid)) == 1 and len(desk.fills(coid)) == 1
    assert desk.journal_trade_ids() == venue_trade_ids(server, desk, coid)


async def test_fills_during_a_stream_outage_are_recovered_by_rest_none_doubled(
    server: BinanceLoopback, desk: StreamDesk
) -> None:
    assert desk.stream is not None
    coid, price = await desk.resting_bid("0.005")
    print_through(server, desk, price, "0.001")
    await desk.until(lambda: len(desk.fills(coid)) == 1, timeout=1.0)
    connects = desk.stream.health.connects

    assert await server.user_data.drop(refuse_s=0.6) == 1
    await desk.until(lambda: not desk.exchange.stream_live, timeout=2.0)
    print_through(server, desk, price, "0.001")  # while the stream is down
    print_through(server, desk, price, "0.002")
    sent_while_down = server.user_data.sent
    outage_over = time.monotonic() + 0.6

    await desk.until(lambda: len(desk.fills(coid)) == 3, timeout=3.0)
    assert time.monotonic() - outage_over < 2.0  # recovered on reconnect, not by the 20 s poll
    assert desk.stream.health.connects == connects + 1
    assert server.user_data.sent == sent_while_down

    print_through(server, desk, price, "0.001")
    await desk.until(lambda: len(desk.fills(coid)) == 4, timeout=1.0)
    await desk.settle()
    ids = [fill.trade_id for fill in desk.fills(coid)]
    assert sorted(ids) == sorted(venue_trade_ids(server, desk, coid))
    assert len(set(ids)) == 4
    assert desk.order(coid).filled_raw == desk.order(coid).quantity_raw


async def test_the_subscription_is_signed_and_checked(server: BinanceLoopback) -> None:
    url = ws_api_url(server.ws_url)
    wrong = BinancePrivateStream(url, api_key=Secret(API_KEY), api_secret=Secret("not-it"))
    right = BinancePrivateStream(url, api_key=Secret(API_KEY), api_secret=Secret(API_SECRET))
    async with websockets.connect(url) as socket:
        await socket.send(wrong.subscribe_request())
        refused = msgspec.json.decode(await socket.recv())
        await socket.send(right.subscribe_request())
        accepted = msgspec.json.decode(await socket.recv())
        await socket.send('{"id":9,"method":"session.subscriptions"}')
        listed = msgspec.json.decode(await socket.recv())
    assert refused["status"] == 400 and refused["error"]["code"] == -1022
    assert accepted["status"] == 200 and "subscriptionId" in accepted["result"]
    assert listed["result"] == [{"subscriptionId": accepted["result"]["subscriptionId"]}]
    await asyncio.sleep(0)


class _Listener:
    def __init__(self) -> None:
        self.orders: list[object] = []

    def on_order(self, state: object) -> None:
        self.orders.append(state)

    def on_balances(self, balances: object) -> None: ...

    def on_connected(self) -> None: ...

    def on_disconnected(self, reason: str) -> None: ...


def test_a_terminated_stream_resubscribes_and_a_bad_frame_is_counted_and_said() -> None:
    stream = BinancePrivateStream(api_key=Secret(API_KEY), api_secret=Secret(API_SECRET))
    listener = _Listener()
    stream.handle('{"subscriptionId":0,"event":{"e":"executionReport","s":"BTCUSDT"', listener)
    assert stream.health.malformed == 1
    stream.handle('{"subscriptionId":0,"event":{"e":"outboundAccountPosition","B":7}}', listener)
    assert stream.health.malformed == 2 and listener.orders == []
    terminated = '{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1}}'
    with pytest.raises(VenueUnavailable, match="eventStreamTerminated"):
        stream.handle(terminated, listener)
