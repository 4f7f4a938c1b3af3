"""The engine's real venues at run time: feeds into one sink, live exchanges, feed health.

:func:`open_venue_set` runs before the engine node is built (it needs the network): it builds each
enabled venue's feed and loads its instruments with the venue's own rules. The node then
:meth:`VenueSet.attach`-es the set to its market state, builds a :class:`LiveExchange` for every
live-mode venue, and runs :meth:`VenueSet.tasks` in its TaskGroup. Every feed appends to the same
:class:`FeedSink`; its ``wake`` sets an event the market loop waits on, so a venue's tick reaches
the books (and the strategies, risk and OMS) at once, not at the next timer step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from engine.backoff import Backoff
from engine.config.settings import Settings
from engine.domain.clock import Clock
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.event_wait import wait_event
from engine.market_state import InstrumentState, MarketState
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.topics import Topics
from engine.venues.base import FeedSink, FeedState, VenueFeed, VenueRejected, VenueUnavailable
from engine.venues.feed_health import FeedHealth
from engine.venues.live_exchange import LiveExchange, Reconciled
from engine.venues.registry import (
    VenueConfig,
    build_feed,
    build_order_client,
    build_private_stream,
    enabled_venues,
)

log = logging.getLogger("stom.venues")

LOAD_ATTEMPTS = 3
HEALTH_INTERVAL_S = 1.0
NS_PER_MS = 1_000_000
DEFAULT_STALE_AFTER_NS = 5_000_000_000
"""``[risk] stale_feed_s``'s default: a feed with no data for this long shows ``stale``."""
_STATE_NAMES: dict[FeedState, p.FeedStateName] = {
    FeedState.CONNECTING: "connecting",
    FeedState.LIVE: "live",
    FeedState.RESYNCING: "resyncing",
    FeedState.DOWN: "down",
}


class HealthWatcher(Protocol):
    """The stale-feed rule (``engine.risk.stale_feed.FeedHolds``), as the venues see it: venues
    never import risk, the node hands one to the other."""

    def watch(self, venue: str, health: FeedHealth) -> None:
        """Read ``health`` whenever an order on ``venue`` is checked."""


class VenueStartError(Exception):
    """A venue could not be started (its instruments could not be loaded)."""


@dataclass
class VenueRuntime:
    """One enabled venue: its config, feed, symbols and instruments."""

    config: VenueConfig
    feed: VenueFeed
    instruments: list[Instrument]
    exchange: LiveExchange | None = None

    @property
    def code(self) -> str:
        return self.config.code

    @property
    def symbols(self) -> list[str]:
        return [instrument.id.symbol for instrument in self.instruments]


@dataclass
class VenueSet:
    """Every enabled venue of one engine (empty when none is enabled)."""

    venues: list[VenueRuntime] = field(default_factory=list)
    sink: FeedSink | None = None
    stale_after_ns: int = DEFAULT_STALE_AFTER_NS
    """No market data received for this long: the instrument is stale (``[risk] stale_feed_s``,
    the same limit that pauses entries), and a feed whose every instrument is, ``stale``."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _market: MarketState | None = None

    @property
    def codes(self) -> list[str]:
        return [venue.code for venue in self.venues]

    @property
    def live_exchanges(self) -> dict[str, LiveExchange]:
        return {v.code: v.exchange for v in self.venues if v.exchange is not None}

    def attach(
        self,
        market: MarketState,
        clock: Clock,
        *,
        poll: bool = True,
        on_reconciled: Reconciled | None = None,
    ) -> None:
        """Add the instruments to ``market``, make the sink, and build the live exchanges.

        Every venue instrument's book is guarded: one that arrives crossed or locked never
        reaches anything (:meth:`MarketState.guard_book`) and its venue resyncs it.
        """
        self._market = market
        for venue in self.venues:
            for instrument in venue.instruments:
                index = market.add(instrument)
                market.guard_book(index, partial(_crossed, venue.feed))
                # Published as deep as configured, else as deep as the venue sends.
                depth = venue.config.settings.book_depth or venue.feed.book_depth
                market.at(index).book_depth = depth
        self.sink = FeedSink(lambda iid: market.index_of(InstrumentId(iid)), self._wake.set)
        for venue in self.venues:
            if venue.config.live and poll:
                client = build_order_client(venue.config, clock, venue.instruments)
                venue.exchange = LiveExchange(
                    client,
                    market,
                    clock,
                    poll_interval_ns=int(venue.config.settings.poll_interval_ms * 1_000_000),
                    on_reconciled=on_reconciled,
                    private_stream=build_private_stream(
                        venue.config, clock, client, venue.instruments
                    ),
                )

    def watch(self, holds: HealthWatcher) -> None:
        """Let the stale-feed rule read each feed's health at the moment it checks an order."""
        for venue in self.venues:
            holds.watch(venue.code, venue.feed.health)

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """Named coroutines for the node's TaskGroup: one feed each, one order worker each."""
        assert self.sink is not None, "attach() first"
        work: list[tuple[str, Coroutine[Any, Any, None]]] = []
        for venue in self.venues:
            work.append((f"feed-{venue.code}", venue.feed.run(venue.symbols, self.sink)))
            if venue.exchange is not None:
                work.append((f"orders-{venue.code}", venue.exchange.run()))
        return work

    async def wait(self, timeout_s: float) -> None:
        """Until a feed appends something, or ``timeout_s`` passes."""
        if not self._wake.is_set():
            await wait_event(self._wake, timeout_s)
        self._wake.clear()

    # --- health ----------------------------------------------------------------------------------

    def health_payload(self, now_ns: int) -> p.FeedsHealth:
        rows = []
        for venue in self.venues:
            health = venue.feed.health
            last = health.last_message_ns or None
            stale, data_age_ns = self._staleness(venue, now_ns)
            state = _STATE_NAMES[health.state]
            if state == "live" and len(stale) == len(venue.instruments):
                state = "stale"  # connected, but nothing has come for longer than the limit
            offset_ns = health.clock.offset_ns(now_ns)
            rows.append(
                p.FeedHealthRow(
                    venue=venue.code,
                    state=state,
                    mode="live" if venue.config.live else "paper",
                    last_message_ns=last,
                    age_ms=max(0, (now_ns - last) // 1_000_000) if last else None,
                    connects=health.connects,
                    reconnects=health.reconnects,
                    gaps=health.gaps,
                    malformed=health.malformed,
                    resyncing=sorted(health.resyncing),
                    last_error=health.last_error or None,
                    disconnects=health.disconnects,
                    crossed=health.crossed,
                    stale=stale,
                    data_age_ms=None if data_age_ns is None else data_age_ns // NS_PER_MS,
                    clock_offset_ms=None if offset_ns is None else round(offset_ns / NS_PER_MS),
                )
            )
        return p.FeedsHealth(ts=now_ns, feeds=rows)

    def _staleness(self, venue: VenueRuntime, now_ns: int) -> tuple[list[str], int | None]:
        """The venue's instruments with no data received within the limit, and the age of its
        newest data (by the engine's receive time, as the stale-feed risk rule judges)."""
        market = self._market
        if market is None:
            return [], None
        stale, newest = [], 0
        for instrument in venue.instruments:
            state = market.get(instrument.id)
            received = state.ts_recv if state is not None else 0
            newest = max(newest, received)
            if not received or now_ns - received > self.stale_after_ns:
                stale.append(str(instrument.id))
        return stale, (max(0, now_ns - newest) if newest else None)

    async def publish_health(self, outbox: Outbox, topics: Topics, clock: Clock) -> None:
        """``md/feeds`` (retained) once a second while the engine runs."""
        while True:
            outbox.publish(topics.feeds, self.health_payload(clock.now_ns()))
            await asyncio.sleep(HEALTH_INTERVAL_S)


def _crossed(feed: VenueFeed, state: InstrumentState, bid: int, ask: int) -> None:
    """A venue book arrived crossed or locked: it was dropped; count, log, resync it."""
    instrument = state.instrument
    what = "locked" if bid == ask else "crossed"
    feed.health.book_crossed(
        str(instrument.id),
        f"{instrument.id} book arrived {what} (bid {instrument.format_price(bid)} >= ask "
        f"{instrument.format_price(ask)}): dropped, not traded on, fetching a fresh snapshot",
        time.monotonic_ns(),
    )
    feed.resync_book(str(instrument.id))


async def open_venue_set(
    settings: Settings,
    clock: Clock,
    *,
    only: list[str] | None = None,
    symbols: dict[str, list[str]] | None = None,
    sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
) -> VenueSet:
    """Build the enabled venues' feeds and load their instruments.

    ``only`` picks venues by name whether enabled or not (``stom data record``); ``symbols``
    replaces a venue's configured symbols. Raises :class:`ConfigError` for missing keys and
    :class:`VenueStartError` when a venue's instruments cannot be loaded.
    """
    configs = enabled_venues(settings, only=only)
    venue_set = VenueSet(stale_after_ns=int(settings.risk.stale_feed_s * 1e9))
    for config in configs:
        feed = build_feed(config, clock)
        wanted = (symbols or {}).get(config.spec.name) or list(config.settings.symbols)
        if not wanted:
            raise VenueStartError(
                f"[venues.{config.spec.name}] symbols is empty: list the symbols to stream, "
                f'e.g. symbols = ["{config.spec.example_symbol}"]'
            )
        instruments = await _load(config, feed, wanted, sleep)
        venue_set.venues.append(VenueRuntime(config, feed, instruments))
        log.info("%s: %d instruments loaded from %s (%s mode)", config.code, len(instruments),
                 config.rest_url(), config.settings.mode)  # fmt: skip
    return venue_set


async def _load(
    config: VenueConfig,
    feed: VenueFeed,
    symbols: list[str],
    sleep: Callable[[float], Coroutine[Any, Any, None]],
) -> list[Instrument]:
    backoff = Backoff(0.5, 5.0, sleep=sleep)
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            return await feed.load_instruments(symbols)
        except (VenueRejected, ValueError, KeyError) as exc:
            why = f"{exc.code}: {exc.message}" if isinstance(exc, VenueRejected) else str(exc)
            raise VenueStartError(
                f"{config.code}: cannot use the instruments {', '.join(symbols)} "
                f"([venues.{config.spec.name}] symbols): {why}"
            ) from None
        except (VenueUnavailable, OSError) as exc:
            if attempt == LOAD_ATTEMPTS:
                raise VenueStartError(
                    f"{config.code}: cannot load instruments from {config.rest_url()} after "
                    f"{LOAD_ATTEMPTS} tries: {exc}"
                ) from None
            await backoff.wait(exc.retry_after_s if isinstance(exc, VenueUnavailable) else None)
    raise AssertionError("unreachable")
