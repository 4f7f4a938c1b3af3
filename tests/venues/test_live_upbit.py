"""The live exchange on Upbit's loopback protocol server, in process: the real feed fills the
books, the real OMS and risk send orders, the real ``UpbitOrderClient`` signs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.commands import CommandRouter
from engine.config.secrets import Secret
from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.market_state import MarketState
from engine.oms.startup import open_trading_core
from engine.oms.trading_commands import TradingCommands
from engine.protocol import payloads as p
from engine.protocol.topics import Topics
from engine.venues.base import FeedSink
from engine.venues.live_exchange import LiveExchange
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback

ACCESS = "live-upbit-access-0123456789abcdef"
SECRET = "live-upbit-secret-0123456789abcdef0123456789"
BTC = "KRW-BTC.UPBIT"


class UpbitDesk:
    def __init__(self, server: UpbitLoopback, tmp_path: Path) -> None:
        self.server = server
        self.clock = LiveClock()
        self.market = MarketState()
        self.feed = UpbitFeed(server.rest_url, server.ws_url, self.clock)
        self.tmp_path = tmp_path
        self.replies = 0

    async def open(self) -> None:
        instruments = await self.feed.load_instruments(["KRW-BTC"])
        for instrument in instruments:
            self.market.add(instrument)
        self.sink = FeedSink(lambda iid: self.market.index_of(InstrumentId(iid)), lambda: None)
        client = UpbitOrderClient(
            self.server.rest_url,
            access_key=Secret(ACCESS),
            secret_key=Secret(SECRET),
            instruments=instruments,
        )
        self.exchange = LiveExchange(client, self.market, self.clock, poll_interval_ns=50_000_000)
        settings = Settings(
            journal=JournalSettings(file=str(self.tmp_path / "journal.sqlite")),
            paper=PaperSettings(balances={"KRW": "1000000000"}),
        )
        self.core = open_trading_core(
            settings, self.market, self.clock, live_exchanges={"UPBIT": self.exchange}
        )
        self.router = CommandRouter(Topics("t"), self.clock)
        TradingCommands(self.core.oms, self.clock, live_venues=frozenset({"UPBIT"})).register(
            self.router
        )

    async def command(self, type_: str, **args: Any) -> p.Reply:
        self.replies += 1
        command = p.Command(id=f"r{self.replies}", type=type_, reply_to="x", args=args)
        return await self.router.handle(command)

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batch = self.sink.take()
            self.market.apply(batch)
            self.core.oms.pump(self.clock.now_ns())
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out waiting for {predicate}")

    def order(self, coid: str) -> Any:
        return self.core.oms.orders[coid]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[UpbitDesk]:
    server = UpbitLoopback(seed=3, symbols=["KRW-BTC"], api_key=ACCESS, api_secret=SECRET,
                           balances={"KRW": Decimal(30_000_000)}, rate=200.0)  # fmt: skip
    await server.start()
    opened = UpbitDesk(server, tmp_path)
    await opened.open()
    tasks = [
        asyncio.create_task(opened.feed.run(["KRW-BTC"], opened.sink)),
        asyncio.create_task(opened.exchange.run()),
    ]
    try:
        state = opened.market.get(InstrumentId(BTC))
        await opened.until(lambda: state.best_bid and state.best_ask and opened.exchange.reconciled)
        assert (await opened.command("arm", venue="UPBIT")).status == "accepted"
        yield opened
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        opened.core.journal.close()
        await server.stop()


async def test_resting_order_is_accepted_by_upbit_then_cancelled(desk: UpbitDesk) -> None:
    state = desk.market.get(InstrumentId(BTC))
    tick = state.instrument.tick_table.tick_at(state.best_bid)
    price = state.best_bid - 20 * tick  # well inside the price band, far from the touch
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", price=str(price), quantity="0.001"
    )
    assert reply.status == "accepted", reply.reason
    coid = reply.result["order"]["client_order_id"]
    await desk.until(lambda: desk.order(coid).status.value == "accepted")
    venue_order_id = desk.order(coid).venue_order_id
    assert venue_order_id in desk.server.exchange.orders  # Upbit's uuid for it
    assert (await desk.command("order.cancel", client_order_id=coid)).status == "accepted"
    await desk.until(lambda: desk.order(coid).status.value == "canceled")
    assert desk.core.oms.account.balances["KRW"].locked == 0


async def test_upbit_refusal_arrives_with_upbit_code(desk: UpbitDesk) -> None:
    # STOM's own account allows it; the venue's does not (30,000,000 KRW there).
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", type="market", quantity="0.45"
    )
    assert reply.status == "accepted", reply.reason
    coid = reply.result["order"]["client_order_id"]
    await desk.until(lambda: desk.order(coid).status.value == "rejected")
    assert desk.order(coid).reason.startswith("UPBIT insufficient_funds_bid: ")


async def test_marketable_order_fills_with_upbit_trades(desk: UpbitDesk) -> None:
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", type="market", quantity="0.002"
    )
    assert reply.status == "accepted", reply.reason
    coid = reply.result["order"]["client_order_id"]
    await desk.until(lambda: desk.order(coid).status.value == "filled")
    fills = [fill for fill in desk.core.journal.fills() if fill.client_order_id == coid]
    assert sum(fill.quantity_raw for fill in fills) == desk.order(coid).quantity_raw
    assert len({fill.trade_id for fill in fills}) == len(fills)
    assert desk.core.oms.positions[BTC].quantity_raw == desk.order(coid).quantity_raw
