"""The live exchange behind the real OMS (risk, journal, account), against an in-memory venue.

Each test runs the exchange's worker as a task and pumps the OMS the way the market loop does
(``test_live_exchange.py``, ``test_live_exchange_lost_places.py``). The same paths against a real
venue protocol: ``test_live_upbit.py`` (Upbit loopback server).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.market_state import MarketState
from engine.oms.startup import TradingCore
from engine.sim.catalog import sim_instrument
from engine.venues.live_exchange import LiveExchange
from tests.support.fake_venue import FakeVenueClient
from tests.support.trading_desk import TradingDesk, cancel_all

BTC = "KRW-BTC.UPBIT"
SIM_BTC = "KRW-BTC.SIM"


class LiveDesk(TradingDesk):
    """A trading core with one live venue (UPBIT, the fake) and the simulator's paper venue."""

    timeout_s = 5.0
    step_s = 0.002

    def __init__(self, tmp_path: Path, client: FakeVenueClient) -> None:
        super().__init__(LiveClock(), MarketState())
        self.settings = Settings(
            journal=JournalSettings(file=str(tmp_path / "journal.sqlite")),
            paper=PaperSettings(order_latency_ms=0.0),
        )
        self.client = client
        upbit = dataclasses.replace(sim_instrument("KRW-BTC"), id=InstrumentId(BTC))
        self.market.add(upbit, 50_000_000)
        self.market.add(sim_instrument("KRW-BTC"), 50_000_000)
        self.differences: list[tuple[str, list[str]]] = []
        self.exchange = LiveExchange(
            client,
            self.market,
            self.clock,
            poll_interval_ns=20_000_000,
            on_reconciled=lambda venue, lines: self.differences.append((venue, lines)),
        )
        self.refresh()
        self.core: TradingCore = self.open_core(self.settings, {"UPBIT": self.exchange})

    def refresh(self) -> None:
        batch = MarketBatch()
        now = self.clock.now_ns()
        for instrument_id in (BTC, SIM_BTC):
            index = self.market.index_of(InstrumentId(instrument_id))
            for n in range(5):
                batch.append(BOOK_LEVEL, index, BID, 49_999_000 - n * 1_000, 10_000_000, now)
                batch.append(BOOK_LEVEL, index, ASK, 50_000_000 + n * 1_000, 10_000_000, now)
            batch.append(TRADE, index, BID, 50_000_000, 1_000, now)
        self.market.apply(batch)
        if hasattr(self, "core") and self.core.exchange.has_work:
            self.core.exchange.on_batch(batch)

    async def buy(self, price: str = "49990000", quantity: str = "0.01") -> str:
        self.refresh()
        reply = await self.command(
            "order.submit", instrument=BTC, side="buy", price=price, quantity=quantity
        )
        assert reply.status == "accepted" and reply.result is not None, reply.reason
        return str(reply.result["order"]["client_order_id"])

    def status(self, coid: str) -> str:
        return self.core.oms.orders[coid].status.value


@contextlib.asynccontextmanager
async def running(desk: LiveDesk, arm: bool = True) -> AsyncIterator[LiveDesk]:
    task = asyncio.create_task(desk.exchange.run())
    if arm:
        reply = await desk.command("arm", venue="UPBIT")
        assert reply.status == "accepted", reply.reason
    try:
        await desk.until(lambda: desk.exchange.reconciled)
        yield desk
    finally:
        await cancel_all([task])
        desk.core.journal.close()
