"""An in-process trading desk on a venue's loopback protocol server: the real feed fills the books,
the real OMS, risk and journal take commands, the real order client signs them and the real
:class:`LiveExchange` turns the venue's answers into events (as in ``test_live_upbit.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from engine.config.secrets import Secret
from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import LiveClock
from engine.domain.ids import InstrumentId
from engine.market_state import InstrumentState, MarketState
from engine.oms.startup import TradingCore
from engine.venues.base import FeedSink, OrderClient, VenueFeed
from engine.venues.binance import BinanceFeed, BinanceOrderClient
from engine.venues.binance.loopback import BinanceLoopback
from engine.venues.live_exchange import LiveExchange
from tests.support.trading_desk import TradingDesk, cancel_all, wide_risk


class Desk(TradingDesk):
    """One engine's trading core over one venue, live (``client`` given) or paper."""

    timeout_s = 15.0

    def __init__(self, feed: VenueFeed, journal: Path, balances: dict[str, str]) -> None:
        super().__init__(LiveClock(), MarketState())
        self.feed = feed
        self.journal = journal
        self.balances = balances
        self.exchange: LiveExchange | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    async def open(self, symbols: list[str], client: OrderClient | None = None) -> None:
        self.symbols = symbols
        for instrument in await self.feed.load_instruments(symbols):
            self.market.add(instrument)
        self.sink = sink = FeedSink(
            lambda iid: self.market.index_of(InstrumentId(iid)), lambda: None
        )
        live: dict[str, LiveExchange] = {}
        if client is not None:
            self.exchange = LiveExchange(
                client, self.market, self.clock, poll_interval_ns=50_000_000
            )
            live[client.venue] = self.exchange
        settings = Settings(
            journal=JournalSettings(file=str(self.journal)),
            paper=PaperSettings(balances=self.balances),
            risk=wide_risk(),
        )
        self.core: TradingCore = self.open_core(settings, live)
        self.tasks.append(asyncio.create_task(self.feed.run(symbols, sink)))
        if self.exchange is not None:
            self.tasks.append(asyncio.create_task(self.exchange.run()))
        await self.until(self.ready)
        if self.exchange is not None:
            assert (await self.command("arm", venue=client.venue)).status == "accepted"  # type: ignore[union-attr]

    def ready(self) -> bool:
        books = all(state.best_bid and state.best_ask for state in self.market)
        return books and (self.exchange is None or self.exchange.reconciled)

    async def close(self) -> None:
        await cancel_all(self.tasks)
        self.core.journal.close()

    def state(self, instrument_id: str) -> InstrumentState:
        state = self.market.get(InstrumentId(instrument_id))
        assert state is not None
        return state

    async def submit(self, **args: Any) -> str:
        reply = await self.command("order.submit", **args)
        assert reply.status == "accepted" and reply.result is not None, reply.reason
        return str(reply.result["order"]["client_order_id"])


@contextlib.asynccontextmanager
async def opened(
    desk: Desk, symbols: list[str], client: OrderClient | None = None
) -> AsyncIterator[Desk]:
    """``desk`` open on ``symbols`` (live when ``client`` is given) for the block, closed after."""
    await desk.open(symbols, client)
    try:
        yield desk
    finally:
        await desk.close()


def binance_desk(
    server: BinanceLoopback, key: str, secret: str, tmp_path: Path, balances: dict[str, str]
) -> contextlib.AbstractAsyncContextManager[Desk]:
    """A live desk on the Binance loopback's ``BTCUSDT`` (its real feed and order client)."""
    feed = BinanceFeed(server.rest_url, server.ws_url, backoff_initial_s=0.05, seed=1)
    client = BinanceOrderClient(server.rest_url, api_key=Secret(key), api_secret=Secret(secret))
    return opened(Desk(feed, tmp_path / "journal.sqlite", balances), ["BTCUSDT"], client)
