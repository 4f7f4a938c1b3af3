"""The live exchange on Upbit's loopback protocol server, in process: the real feed fills the
books, the real OMS and risk send orders, the real ``UpbitOrderClient`` signs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.secrets import Secret
from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.market_state import MarketState
from engine.venues.base import FeedSink
from engine.venues.live_exchange import LiveExchange
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from tests.support.trading_desk import TradingDesk, cancel_all

ACCESS = "live-upbit-access-0123456789abcdef"
SECRET = "live-upbit-secret-0123456789abcdef0123456789"
BTC = "KRW-BTC.UPBIT"


class UpbitDesk(TradingDesk):
    def __init__(self, server: UpbitLoopback, tmp_path: Path) -> None:
        super().__init__(LiveClock(), MarketState())
        self.server = server
        self.feed = UpbitFeed(server.rest_url, server.ws_url, self.clock)
        self.tmp_path = tmp_path

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
        self.open_core(settings, {"UPBIT": self.exchange})


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[UpbitDesk]:
    server = UpbitLoopback(seed=3, symbols=["KRW-BTC"], api_key=ACCESS, api_secret=SECRET,
                           balances={"KRW": Decimal(30_000_000)}, rate=200.0)  # fmt: skip
    await server.start()
    opened = UpbitDesk(server, tmp_path)
    await opened.open()
    assert opened.sink is not None
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
        await cancel_all(tasks)
        opened.core.journal.close()
        await server.stop()


async def test_resting_order_is_accepted_by_upbit_then_cancelled(desk: UpbitDesk) -> None:
    state = desk.market.get(InstrumentId(BTC))
    # 2% under the bid: inside the 5% price band, and far beyond what the simulated market moves
    # in the test's seconds on a loaded machine (20 ticks, 0.02%, was once reached and filled).
    tick = state.instrument.tick_table.tick_at(state.best_bid)
    price = (state.best_bid * 98 // 100) // tick * tick
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
    assert (desk.order(coid).reason or "").startswith("UPBIT insufficient_funds_bid: ")


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
