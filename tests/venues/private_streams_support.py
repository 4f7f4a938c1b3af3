"""A trading desk for the private-stream tests: a venue's real feed, order client and private
stream, the live exchange and the OMS, all in process against that venue's loopback server.

Every test pauses the loopback's simulated market, so the only fills are those the test makes by
printing through a resting order on the venue (the loopback exchange's own maker-fill path), and
polls far less often than any fill may take by the stream: a fill that reaches the OMS quickly
came by the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import Clock
from engine.domain.ids import InstrumentId
from engine.domain.orders import AnyOrderEvent, OrderCanceled, OrderFilled
from engine.market_state import MarketState
from engine.venues.base import FeedSink, OrderClient, VenueFeed
from engine.venues.live_exchange import LiveExchange
from engine.venues.private_stream import PrivateStream
from tests.support.trading_desk import WIDE_MONEY, TradingDesk, cancel_all, wide_risk

POLL_S = 20.0
"""Far longer than any fill may take by the stream."""


class StreamDesk(TradingDesk):
    """See the module docstring; ``queries()`` counts the venue's order-status REST requests,
    ``requests()`` all of its REST requests."""

    step_s = 0.002

    def __init__(
        self,
        *,
        venue: str,
        instrument_id: str,
        clock: Clock,
        market: MarketState,
        feed: VenueFeed,
        client: OrderClient,
        stream: PrivateStream | None,
        queries: Callable[[], int],
        requests: Callable[[], int],
        tmp_path: Path,
        poll_s: float = POLL_S,
    ) -> None:
        super().__init__(clock, market)
        self.venue = venue
        self.instrument_id = instrument_id
        self.feed = feed
        self.stream = stream
        self.queries = queries
        self.requests = requests
        self.events: list[tuple[float, AnyOrderEvent]] = []
        self.sink = FeedSink(lambda iid: market.index_of(InstrumentId(iid)), lambda: None)
        self.exchange = LiveExchange(
            client,
            market,
            clock,
            poll_interval_ns=int(poll_s * 1e9),
            private_stream=stream,
            stream_poll_interval_ns=int(60e9),
        )
        drain = self.exchange.drain

        def recording_drain() -> list[AnyOrderEvent]:
            events = drain()
            self.events.extend((time.monotonic(), event) for event in events)
            return events

        self.exchange.drain = recording_drain  # type: ignore[method-assign]
        settings = Settings(
            journal=JournalSettings(file=str(tmp_path / "journal.sqlite")),
            paper=PaperSettings(balances=WIDE_MONEY),
            # The market is paused (see the module docstring): its books stop moving, which the
            # stale-feed rule would rightly refuse to trade on after 5 s.
            risk=wide_risk(stale_feed_s=3600.0),
        )
        self.open_core(settings, {venue: self.exchange})

    async def settle(self) -> None:
        """Let anything in flight arrive (a late duplicate would show after this)."""
        await asyncio.sleep(0.15)
        await self.until(lambda: True)

    async def quiet(self, for_s: float = 0.3) -> None:
        """Until no REST request has reached the venue for ``for_s`` (none is in flight)."""
        loop = asyncio.get_running_loop()
        seen, since = self.requests(), loop.time()
        while loop.time() - since < for_s:
            await asyncio.sleep(0.02)
            if self.requests() != seen:
                seen, since = self.requests(), loop.time()

    async def resting_bid(self, quantity: str, ticks_below: int = 10) -> tuple[str, int]:
        """A buy resting below the best bid; its client order id and price (raw). Returns once
        the query that follows every place was answered: no REST request is in flight."""
        state = self.market.get(InstrumentId(self.instrument_id))
        assert state is not None
        tick = state.instrument.tick_table.tick_at(state.best_bid)
        price = state.best_bid - ticks_below * tick
        queries = self.queries()
        reply = await self.command("order.submit", instrument=self.instrument_id, side="buy",
                                   price=state.instrument.format_price(price),
                                   quantity=quantity)  # fmt: skip
        assert reply.status == "accepted" and reply.result is not None, reply.reason
        coid = str(reply.result["order"]["client_order_id"])
        await self.until(lambda: self.order(coid).status.value == "accepted")
        await self.until(lambda: self.queries() > queries)
        await asyncio.sleep(0.02)
        return coid, price

    async def fill_by_stream(
        self, coid: str, print_through: Callable[[], Awaitable[None] | None], stream: str
    ) -> OrderFilled:
        """The one fill a print through resting order ``coid`` on the venue makes; it must come
        by the private stream (``stream`` names it): well under a poll, with no REST query."""
        queries = self.queries()
        started = time.monotonic()
        maybe = print_through()
        if maybe is not None:
            await maybe
        await self.until(lambda: self.fills(coid), timeout=POLL_S)
        assert self.events[-1][0] - started < 0.5, "the fill took longer than the stream should"
        assert self.queries() == queries, f"the fill came by a REST query, not by {stream}"
        (fill,) = self.fills(coid)
        return fill

    def fills(self, coid: str) -> list[OrderFilled]:
        return [
            event
            for _, event in self.events
            if isinstance(event, OrderFilled) and event.client_order_id == coid
        ]

    def cancels(self, coid: str) -> list[OrderCanceled]:
        return [e for _, e in self.events if type(e) is OrderCanceled and e.client_order_id == coid]

    def journal_trade_ids(self) -> list[str]:
        return sorted(fill.trade_id for fill in self.core.journal.fills())


async def running(
    desk: StreamDesk, symbols: list[str], pause: Callable[[], None]
) -> AsyncIterator[StreamDesk]:
    """Feed and live exchange running, books in, reconciled, stream subscribed, armed."""
    assert desk.sink is not None
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(desk.feed.run(symbols, desk.sink)),
        asyncio.create_task(desk.exchange.run()),
    ]
    try:
        state = desk.market.get(InstrumentId(desk.instrument_id))
        assert state is not None
        await desk.until(
            lambda: (
                state.best_bid
                and desk.exchange.reconciled
                and (desk.stream is None or desk.exchange.stream_live)
            ),
            timeout=20.0,
        )
        pause()  # from here on, only the test's own prints fill anything
        await desk.quiet()  # the poll every (re)subscription asks for has been answered
        assert (await desk.command("arm", venue=desk.venue)).status == "accepted"
        yield desk
    finally:
        await cancel_all(tasks)
        desk.core.journal.close()


async def fill_latency(
    desk: StreamDesk,
    print_through: Callable[[int, str], Awaitable[None] | None],
    size: str,
    delay_s: float = 0.0,
) -> float:
    """Seconds from a print through a fresh resting bid on the venue to its fill in the OMS;
    the print comes ``delay_s`` after the bid rests (a random phase against the poll timer)."""
    coid, price = await desk.resting_bid(size)
    await asyncio.sleep(delay_s)
    started = time.monotonic()
    maybe: Coroutine[Any, Any, None] | None = print_through(price, size)  # type: ignore[assignment]
    if maybe is not None:
        await maybe
    await desk.until(lambda: desk.fills(coid), timeout=30.0)
    arrived = next(
        t for t, e in desk.events if isinstance(e, OrderFilled) and e.client_order_id == coid
    )
    return arrived - started
