"""A trading core driven the way the engine drives it, for in-process tests of the live venues.

:class:`TradingDesk` holds what every such test desk shares: the real OMS, risk and journal
(:func:`open_trading_core`), the real command router with the trading commands registered, a
way to send a command as the engine receives one, and the market loop's steps (apply the feed's
batches, pump the OMS) run until a condition holds. Each test module's desk adds its own venue:
an in-memory fake, a loopback protocol server, a private stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, TypeVar

from engine.commands import CommandRouter
from engine.config.settings import RiskSettings, Settings
from engine.domain.clock import Clock
from engine.domain.orders import Order
from engine.market_state import MarketState
from engine.oms.startup import TradingCore, open_trading_core
from engine.oms.trading_commands import TradingCommands
from engine.protocol import payloads as p
from engine.protocol.topics import Topics
from engine.venues.base import FeedSink
from engine.venues.live_exchange import LiveExchange

WIDE_MONEY = {"KRW": "500000000", "USDT": "1000000"}
"""Balances and risk limits in KRW and USDT, so either kind of venue's instruments may trade."""
LIMITS = ("max_order_notional", "max_position_notional", "max_gross_exposure", "daily_loss_limit",
          "max_drawdown")  # fmt: skip


def wide_risk(**overrides: Any) -> RiskSettings:
    """Risk limits no test order comes near (:data:`WIDE_MONEY` each), with ``overrides``."""
    limits: dict[str, Any] = {key: WIDE_MONEY for key in LIMITS}
    return RiskSettings(**{**limits, **overrides})


class TradingDesk:
    """The trading core, its commands and the market loop's steps (see the module docstring).

    ``sink`` (when a feed runs) is applied to the market on every step; ``timeout_s`` and
    ``step_s`` are the default wait of :meth:`until` and its pace.
    """

    timeout_s = 10.0
    step_s = 0.005

    def __init__(self, clock: Clock, market: MarketState) -> None:
        self.clock = clock
        self.market = market
        self.sink: FeedSink | None = None
        self.replies = 0

    def open_core(self, settings: Settings, live: dict[str, LiveExchange]) -> TradingCore:
        """The trading core over ``live`` venues (the rest paper), with its commands routed."""
        self.core = open_trading_core(settings, self.market, self.clock, live_exchanges=live)
        self.router = CommandRouter(Topics("t"), self.clock)
        commands = TradingCommands(self.core.oms, self.clock, live_venues=frozenset(live))
        commands.register(self.router)
        return self.core

    async def command(self, type_: str, **args: Any) -> p.Reply:
        """``type_`` with ``args`` as the engine receives it; the reply."""
        self.replies += 1
        command = p.Command(id=f"r{self.replies}", type=type_, reply_to="x", args=args)
        return await self.router.handle(command)

    async def until(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run the market loop's steps (apply the feed, pump the OMS) until ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout_s if timeout is None else timeout)
        while loop.time() < deadline:
            if self.sink is not None:
                self.market.apply(self.sink.take())
            self.core.oms.pump(self.clock.now_ns())
            value = predicate()
            if value:
                return value
            await asyncio.sleep(self.step_s)
        raise AssertionError(f"timed out waiting for {predicate}")

    def order(self, coid: str) -> Order:
        return self.core.oms.orders[coid]


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for each to end."""
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Server(Protocol):
    """A loopback protocol server: started, then stopped."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


@contextlib.asynccontextmanager
async def serving(server: S) -> AsyncIterator[S]:
    """``server`` started for the block, stopped after."""
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
