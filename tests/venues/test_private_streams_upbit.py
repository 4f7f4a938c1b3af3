"""Upbit's private stream (``myOrder``/``myAsset``) through the real adapter and live exchange,
against the loopback's ``/websocket/v1/private`` served from its exchange state
(see tests/venues/private_streams_support.py for the desk)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pyupbit
import websockets

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.domain.market_data import ASK
from engine.market_state import MarketState
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from engine.venues.upbit.loopback_market import TradeRecord
from engine.venues.upbit.private_stream import UpbitPrivateStream, private_stream
from tests.support.trading_desk import serving
from tests.venues.private_streams_support import POLL_S, StreamDesk, running

ACCESS = "private-upbit-access-0123456789abcdef"
SECRET = "private-upbit-secret-0123456789abcdef0123456789"
BTC = "KRW-BTC.UPBIT"


def print_through(server: UpbitLoopback, price_raw: int, size: str) -> None:
    """A sell print at ``price_raw`` on the venue: resting bids at or above it fill (maker)."""
    market = server.market
    position = market.position_of["KRW-BTC"]
    size_raw = int(Decimal(size).scaleb(market.instruments[position].size_precision))
    now = time.time_ns()
    server.exchange.on_trades([TradeRecord(position, now, price_raw, size_raw, ASK, now)], now)


def venue_trades(server: UpbitLoopback, desk: StreamDesk, coid: str) -> list[dict[str, Any]]:
    return list(server.exchange.orders[desk.order(coid).venue_order_id or ""].trades)


async def open_desk(
    server: UpbitLoopback, tmp_path: Path, *, stream: bool = True, poll_s: float = POLL_S
) -> StreamDesk:
    clock = LiveClock()
    market = MarketState()
    feed = UpbitFeed(server.rest_url, server.ws_url, clock)
    instruments = await feed.load_instruments(["KRW-BTC"])
    for instrument in instruments:
        market.add(instrument)
    access, secret = Secret(ACCESS), Secret(SECRET)
    client = UpbitOrderClient(server.rest_url, instruments=instruments, access_key=access,
                              secret_key=secret)  # fmt: skip
    private = None
    if stream:
        private = private_stream(server.ws_url, client=client, clock=clock,
                                 instruments=instruments, access_key=access,
                                 secret_key=secret)  # fmt: skip
        private.backoff = Backoff(0.05, 0.2)

    def queries() -> int:
        return server.requests.get("/v1/orders/open", 0) + server.requests.get("/v1/order", 0)

    return StreamDesk(venue="UPBIT", instrument_id=BTC, clock=clock, market=market, feed=feed,
                      client=client, stream=private, queries=queries,
                      requests=lambda: sum(server.requests.values()),
                      tmp_path=tmp_path, poll_s=poll_s)  # fmt: skip


@pytest.fixture
async def server() -> AsyncIterator[UpbitLoopback]:
    started = UpbitLoopback(seed=5, symbols=["KRW-BTC"], api_key=ACCESS, api_secret=SECRET,
                            balances={"KRW": Decimal(30_000_000)}, rate=200.0,
                            history_s=30.0)  # fmt: skip
    async with serving(started):
        yield started


@pytest.fixture
async def desk(server: UpbitLoopback, tmp_path: Path) -> AsyncIterator[StreamDesk]:
    async for opened in running(
        await open_desk(server, tmp_path), ["KRW-BTC"], server.pause_market
    ):
        yield opened


async def test_a_fill_reaches_the_engine_by_the_stream_long_before_the_poll(
    server: UpbitLoopback, desk: StreamDesk
) -> None:
    coid, price = await desk.resting_bid("0.004")
    # A partial fill: a doubled report would show.
    fill = await desk.fill_by_stream(
        coid, lambda: print_through(server, price, "0.001"), "the stream"
    )
    (trade,) = venue_trades(server, desk, coid)
    assert fill.trade_id == trade["uuid"]  # the id GET /v1/order lists it under
    assert fill.liquidity == "maker"
    assert fill.quantity_raw == 100_000  # 0.001 BTC at 8 decimals
    # Upbit's own fee for it (0.05 % of the notional), as the stream carried it.
    state = desk.market.get(InstrumentId(BTC))
    assert state is not None
    scale = Decimal(10) ** -(state.instrument.price_precision + state.instrument.size_precision)
    assert Decimal(fill.fee_raw) * scale == Decimal(trade["funds"]) * Decimal("0.0005")
    assert desk.exchange.venue_balances["BTC"].free == Decimal("0.001")  # myAsset

    # The rest of it fills; the order ends filled by the stream too.
    print_through(server, price, "0.003")
    await desk.until(lambda: desk.order(coid).status.value == "filled", timeout=1.0)
    assert [f.trade_id for f in desk.fills(coid)] == [
        t["uuid"] for t in venue_trades(server, desk, coid)
    ]


async def test_a_fill_and_an_end_seen_by_stream_and_by_rest_are_reported_once(
    server: UpbitLoopback, desk: StreamDesk
) -> None:
    coid, price = await desk.resting_bid("0.004")
    print_through(server, price, "0.002")
    await desk.until(lambda: desk.fills(coid), timeout=1.0)
    # The cancel's answer is followed by a query listing the fill, while the stream pushes the
    # end: both paths report the same trade and the same end.
    queries = desk.queries()
    assert (await desk.command("order.cancel", client_order_id=coid)).status == "accepted"
    await desk.until(lambda: desk.order(coid).status.value == "canceled")
    await desk.until(lambda: desk.queries() > queries)
    await desk.settle()
    assert len(desk.cancels(coid)) == 1
    assert len(desk.fills(coid)) == 1
    assert desk.order(coid).filled_raw == 200_000
    assert desk.journal_trade_ids() == [t["uuid"] for t in venue_trades(server, desk, coid)]


async def test_fills_during_a_stream_outage_are_recovered_by_rest_none_doubled(
    server: UpbitLoopback, desk: StreamDesk
) -> None:
    assert desk.stream is not None
    coid, price = await desk.resting_bid("0.005")
    print_through(server, price, "0.001")  # by the stream
    await desk.until(lambda: len(desk.fills(coid)) == 1, timeout=1.0)
    connects = desk.stream.health.connects

    assert server.private.drop(refuse_s=0.6) == 1
    await desk.until(lambda: not desk.exchange.stream_live, timeout=2.0)
    print_through(server, price, "0.001")  # while the stream is down
    print_through(server, price, "0.002")
    sent_while_down = server.private.sent
    outage_over = time.monotonic() + 0.6

    # Reconnected, then recovered by REST, well before the 20 s poll would have come.
    await desk.until(lambda: len(desk.fills(coid)) == 3, timeout=3.0)
    assert time.monotonic() - outage_over < 2.0
    assert desk.stream.health.connects == connects + 1
    assert server.private.sent == sent_while_down  # nothing of it came by the stream

    print_through(server, price, "0.001")  # and the stream carries on
    await desk.until(lambda: len(desk.fills(coid)) == 4, timeout=1.0)
    await desk.settle()
    ids = [fill.trade_id for fill in desk.fills(coid)]
    assert sorted(ids) == sorted(t["uuid"] for t in venue_trades(server, desk, coid))
    assert len(set(ids)) == len(ids) == 4
    assert desk.order(coid).filled_raw == 500_000


async def test_the_private_endpoint_refuses_a_bad_token_and_myasset_codes(
    server: UpbitLoopback,
) -> None:
    url = server.ws_url + "/private"
    bad = {"Authorization": "Bearer not-a-token"}
    async with websockets.connect(url, additional_headers=bad) as socket:
        await socket.send('[{"ticket":"t"},{"type":"myOrder"}]')
        reply = msgspec.json.decode(await socket.recv())
    assert reply["error"]["name"] == "INVALID_AUTH"

    good = pyupbit.Upbit(ACCESS, SECRET)._request_headers(None)
    async with websockets.connect(url, additional_headers=good) as socket:
        await socket.send('[{"ticket":"t"},{"type":"myAsset","codes":["KRW-BTC"]}]')
        reply = msgspec.json.decode(await socket.recv())
    assert reply["error"]["name"] == "WRONG_FORMAT"


async def test_a_refused_token_is_retried_with_backoff_not_fatal(
    server: UpbitLoopback, tmp_path: Path
) -> None:
    """A stream with the wrong secret is refused (INVALID_AUTH) and keeps retrying; it never
    takes the order worker down, and polling carries the fills meanwhile."""
    desk = await open_desk(server, tmp_path)
    stream = desk.stream
    assert isinstance(stream, UpbitPrivateStream)
    stream._secret_key = Secret("wrong-secret-0123456789abcdef-0123456789")
    task = asyncio.create_task(desk.exchange.run())
    try:
        await desk.until(lambda: "INVALID_AUTH" in stream.health.last_error, timeout=5.0)
        assert not desk.exchange.stream_live and not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        desk.core.journal.close()
