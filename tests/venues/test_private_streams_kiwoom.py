"""Kiwoom's ``00`` (주문체결) real-time through the real adapter and live exchange, against the
loopback's realtime socket serving the desk's order events (see
tests/venues/private_streams_support.py for the desk)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.domain.clock import LiveClock
from engine.market_state import MarketState
from engine.venues.kiwoom import KiwoomFeed, KiwoomOrderClient, wire
from engine.venues.kiwoom.loopback import KiwoomLoopback
from engine.venues.kiwoom.private_stream import private_stream
from tests.support.trading_desk import serving
from tests.venues.private_streams_support import POLL_S, StreamDesk, running

APP_KEY = "private-kiwoom-app-key-8b1f0c"
SECRET_KEY = "private-kiwoom-secret-4d2e9a"
CODE = "005930"
SAMSUNG = "005930.KRX"


async def print_through(server: KiwoomLoopback, price: int, shares: int) -> None:
    """A seller takes resting bids down to ``price`` on the venue (they fill as makers)."""
    stock = server.market.by_code[CODE]
    server.desk.on_trade(stock, price, -shares, server.session_time())
    await server.push_order_events()  # the venue pushes at once (the loopback's tick is paused)


def venue_fill_ids(server: KiwoomLoopback, desk: StreamDesk, coid: str) -> list[str]:
    order = server.desk.orders[desk.order(coid).venue_order_id or ""]
    return [f"{order.number}-{order.quantity - e.remaining_after}" for e in order.executions]


async def open_desk(
    server: KiwoomLoopback, tmp_path: Path, *, stream: bool = True, poll_s: float = POLL_S
) -> StreamDesk:
    clock = LiveClock()
    market = MarketState()
    app_key, secret_key = Secret(APP_KEY), Secret(SECRET_KEY)
    feed = KiwoomFeed(server.rest_url, server.ws_url, clock=clock, backoff_initial_s=0.05,
                      app_key=app_key, secret_key=secret_key)  # fmt: skip
    instruments = await feed.load_instruments([CODE])
    for instrument in instruments:
        market.add(instrument)
    client = KiwoomOrderClient(server.rest_url, clock=clock, app_key=app_key,
                               secret_key=secret_key)  # fmt: skip
    private = private_stream(server.ws_url, client=client, clock=clock, instruments=instruments,
                             app_key=app_key, secret_key=secret_key)  # fmt: skip
    private.backoff = Backoff(0.05, 0.2)

    def queries() -> int:
        # A query is ka10075 then ka10076, paced at 5 requests/s: count it once its last TR
        # has reached the venue.
        return sum(1 for api in server.requests if api == wire.EXECUTIONS)

    return StreamDesk(venue="KRX", instrument_id=SAMSUNG, clock=clock, market=market, feed=feed,
                      client=client, stream=private if stream else None, queries=queries,
                      requests=lambda: len(server.requests),
                      tmp_path=tmp_path, poll_s=poll_s)  # fmt: skip


@pytest.fixture
async def server() -> AsyncIterator[KiwoomLoopback]:
    started = KiwoomLoopback(seed=11, api_key=APP_KEY, api_secret=SECRET_KEY, symbols=[CODE],
                             rate=200.0)  # fmt: skip
    async with serving(started):
        yield started


def pause(server: KiwoomLoopback) -> None:
    server.paused = True


@pytest.fixture
async def desk(server: KiwoomLoopback, tmp_path: Path) -> AsyncIterator[StreamDesk]:
    opened = await open_desk(server, tmp_path)
    async for running_desk in running(opened, [CODE], lambda: pause(server)):
        yield running_desk


async def test_a_fill_reaches_the_engine_by_00_and_is_reported_once(
    server: KiwoomLoopback, desk: StreamDesk
) -> None:
    coid, price = await desk.resting_bid("10")
    queries = desk.queries()
    fill = await desk.fill_by_stream(coid, lambda: print_through(server, price, 4), "00")
    assert [fill.trade_id] == venue_fill_ids(server, desk, coid)  # ka10076's id for it
    assert fill.quantity_raw == 4 and fill.price_raw == price
    holding = desk.exchange.venue_balances[CODE]  # 04 (잔고) after the execution
    assert holding.free + holding.locked == server.desk.holdings[CODE]

    # Found again by the query that follows a cancel: reported once; the end comes by REST.
    assert (await desk.command("order.cancel", client_order_id=coid)).status == "accepted"
    await desk.until(lambda: desk.order(coid).status.value == "canceled")
    await desk.settle()
    assert desk.queries() > queries
    assert len(desk.cancels(coid)) == 1 and len(desk.fills(coid)) == 1
    assert desk.order(coid).filled_raw == 4


async def test_fills_during_a_00_outage_are_recovered_by_rest_none_doubled(
    server: KiwoomLoopback, desk: StreamDesk
) -> None:
    assert desk.stream is not None
    coid, price = await desk.resting_bid("10")
    await print_through(server, price, 2)
    await desk.until(lambda: len(desk.fills(coid)) == 1, timeout=1.0)
    connects = desk.stream.health.connects

    server.order_events.refuse_for(0.6)
    await server.drop_connections()
    await desk.until(lambda: not desk.exchange.stream_live, timeout=2.0)
    await print_through(server, price, 3)  # while 00 is down
    await print_through(server, price, 1)
    sent_while_down = server.order_events.sent
    outage_over = time.monotonic() + 0.6

    await desk.until(lambda: len(desk.fills(coid)) == 3, timeout=4.0)
    assert time.monotonic() - outage_over < 2.5  # recovered on reconnect, not by the 20 s poll
    assert desk.stream.health.connects == connects + 1
    assert server.order_events.sent == sent_while_down

    await print_through(server, price, 4)  # the rest, by 00 again: the order ends filled
    await desk.until(lambda: desk.order(coid).status.value == "filled", timeout=2.0)
    await desk.settle()
    ids = [fill.trade_id for fill in desk.fills(coid)]
    assert ids == venue_fill_ids(server, desk, coid)
    assert desk.order(coid).filled_raw == 10
