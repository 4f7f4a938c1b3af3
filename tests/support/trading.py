"""An in-process trading core on a hand-built market: real OMS, risk, paper venue and journal."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.commands import CommandRouter
from engine.config.settings import JournalSettings, PaperSettings, RiskSettings, Settings
from engine.domain.clock import TestClock
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.market_state import MarketState
from engine.oms.startup import TradingCore, open_trading_core
from engine.oms.trading_commands import TradingCommands
from engine.protocol import payloads as p
from engine.protocol.topics import Topics
from engine.sim.catalog import sim_instrument

BTC = "KRW-BTC.SIM"
SAMSUNG = "005930.SIM"
START_NS = 1_700_000_000_000_000_000
MS = 1_000_000


def btc_book() -> list[tuple[int, int, int]]:
    """(side, price, size raw): 10 levels a side around 50,000,000 KRW, 0.1 BTC each."""
    levels = []
    for n in range(10):
        levels.append((BID, 49_999_000 - n * 1_000, 10_000_000))
        levels.append((ASK, 50_000_000 + n * 1_000, 10_000_000))
    return levels


def samsung_book() -> list[tuple[int, int, int]]:
    levels = []
    for n in range(10):
        levels.append((BID, 70_000 - n * 100, 500))
        levels.append((ASK, 70_100 + n * 100, 500))
    return levels


@dataclass
class Desk:
    """A trading core with a clock and a command router, as the engine wires them."""

    core: TradingCore
    clock: TestClock
    market: MarketState
    router: CommandRouter
    settings: Settings
    replies: list[p.Reply] = field(default_factory=list)

    @property
    def oms(self) -> Any:
        return self.core.oms

    async def command(self, type_: str, **args: Any) -> p.Reply:
        command = p.Command(id=f"r{len(self.replies)}", type=type_, reply_to="x", args=args)
        reply = await self.router.handle(command)
        self.replies.append(reply)
        return reply

    def feed(self, *events: tuple[int, str, int, int, int]) -> None:
        """Market events (kind, instrument, side, price, size) at the current time, then pump."""
        batch = MarketBatch()
        now = self.clock.now_ns()
        for kind, instrument_id, side, price, size in events:
            batch.append(kind, self.market.index_of(instrument_id), side, price, size, now)  # type: ignore[arg-type]
        self.market.apply(batch)
        if self.core.exchange.has_work:
            self.core.exchange.on_batch(batch)
        self.core.oms.pump(now)

    def advance(self, ms: float) -> None:
        self.clock.advance(int(ms * MS))
        self.core.oms.pump(self.clock.now_ns())

    def refresh_books(self) -> None:
        """Touch every level again so the feed is fresh (not stale) at the current time."""
        events = [(BOOK_LEVEL, BTC, side, price, size) for side, price, size in btc_book()]
        events += [(BOOK_LEVEL, SAMSUNG, side, price, size) for side, price, size in samsung_book()]
        self.feed(*events)

    def trade(self, instrument_id: str, aggressor: int, price: int, size: int) -> None:
        self.feed((TRADE, instrument_id, aggressor, price, size))

    def close(self) -> None:
        self.core.journal.close()


def desk_settings(tmp_path: Path, **risk: Any) -> Settings:
    return Settings(
        journal=JournalSettings(file=str(tmp_path / "journal.sqlite")),
        paper=PaperSettings(order_latency_ms=10.0),
        risk=RiskSettings(**risk),
    )


def open_desk(
    settings: Settings, clock: TestClock | None = None, *, live_venues: frozenset[str] = frozenset()
) -> Desk:
    clock = clock or TestClock(START_NS)
    market = MarketState()
    market.add(sim_instrument("KRW-BTC"), 50_000_000)
    market.add(sim_instrument("005930"), 70_000)
    # The books exist before the core opens: restored orders estimate their queue from them.
    batch = MarketBatch()
    for instrument_id, book in ((BTC, btc_book()), (SAMSUNG, samsung_book())):
        for side, price, size in book:
            batch.append(
                BOOK_LEVEL, market.index_of(instrument_id), side, price, size, clock.now_ns()
            )  # type: ignore[arg-type]
    market.apply(batch)
    core = open_trading_core(settings, market, clock, live_venues=live_venues)
    router = CommandRouter(Topics("test"), clock)
    TradingCommands(core.oms, clock, live_venues=live_venues).register(router)
    desk = Desk(core, clock, market, router, settings)
    logging.getLogger("stom").setLevel(logging.INFO)
    desk.trade(BTC, BID, 50_000_000, 1_000_000)
    desk.trade(SAMSUNG, BID, 70_100, 10)
    return desk
