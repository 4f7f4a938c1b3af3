"""The live exchange's requests to one venue, retried as the venue's failures allow.

:class:`VenueRequests` runs every REST request of :class:`~engine.venues.live_exchange.
LiveExchange`: a :class:`VenueUnavailable` (network, 5xx, rate limit) is retried after its
``retry_after_s`` with a growing back-off (:class:`engine.backoff.Backoff`), up to
``max_attempts`` tries. A ``place`` whose answer was lost is looked up by client order id: it is
sent again only where the venue refuses a duplicate client order id
(``OrderClient.rejects_duplicate_ids``) or the failure certainly did not reach the venue
(``VenueUnavailable.unsent``); elsewhere it is looked up until the venue lists it or says it does
not know it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.backoff import Backoff
from engine.domain.instrument import Instrument
from engine.domain.orders import Order
from engine.venues.base import OrderClient, VenueRejected, VenueUnavailable

log = logging.getLogger("stom.venues.live")

T = TypeVar("T")

MAX_ATTEMPTS = 5
"""A request that keeps failing with VenueUnavailable is given up after this many tries."""
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0


class Unresolved(Exception):
    """A place may or may not have reached the venue, and looking it up has not told yet."""


class VenueRequests:
    """One venue's requests with the live exchange's retries (see the module docstring)."""

    def __init__(self, client: OrderClient, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.client = client
        self.venue = client.venue
        self.max_attempts = max_attempts
        self.failed = 0
        """Tries that failed with VenueUnavailable (each retried or given up)."""

    async def place(self, order: Order, instrument: Instrument) -> str:
        """Place ``order``; after a failed try, look it up by client order id before sending it
        again, since the request may have reached the venue before its answer was lost.

        Sending again is only safe where the venue refuses a duplicate client order id; anywhere
        else (Kiwoom, or a client that does not say) see :meth:`_place_unguarded`."""
        if not getattr(self.client, "rejects_duplicate_ids", False):
            return await self._place_unguarded(order, instrument)
        backoff = Backoff(FIRST_BACKOFF_S, MAX_BACKOFF_S)
        uncertain = False
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.client.place(order, instrument)
            except VenueRejected:
                if not uncertain:
                    raise
                found = await self.look_up(order)  # a duplicate id: the first try got there
                if found is None:
                    raise
                return found
            except VenueUnavailable as exc:
                self.failed += 1
                if attempt == self.max_attempts:
                    found = await self.look_up(order)  # this last try may have got there too
                    if found is not None:
                        return found
                    raise
                uncertain = True
                wait = backoff.next_delay(exc.retry_after_s)
                log.warning("%s: place %s: %s; retrying in %.1f s (attempt %d of %d)", self.venue,
                            order.client_order_id, exc, wait, attempt + 1,
                            self.max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
                found = await self.look_up(order)
                if found is not None:
                    return found
        raise AssertionError("unreachable")

    async def _place_unguarded(self, order: Order, instrument: Instrument) -> str:
        """Place ``order`` on a venue that would take a second copy of it: sent again only after
        a failure that certainly did not reach the venue (``VenueUnavailable.unsent``); after any
        other failure it is only looked up (:meth:`_find_sent`), never sent again."""
        backoff = Backoff(FIRST_BACKOFF_S, MAX_BACKOFF_S)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.client.place(order, instrument)
            except VenueUnavailable as exc:
                self.failed += 1
                if not exc.unsent:
                    log.warning("%s: place %s: %s; the order may be on the venue: looking it up, "
                                "never sending it again", self.venue, order.client_order_id,
                                exc)  # fmt: skip
                    return await self._find_sent(order)
                if attempt == self.max_attempts:
                    raise
                wait = backoff.next_delay(exc.retry_after_s)
                log.warning("%s: place %s: %s (not sent); sending again in %.1f s (attempt %d "
                            "of %d)", self.venue, order.client_order_id, exc, wait, attempt + 1,
                            self.max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _find_sent(self, order: Order) -> str:
        """The venue order id of ``order``, whose place may have reached the venue: looked up
        with back-off until the venue lists it, or says it does not know it (VenueRejected: the
        order was not placed). Still unknown after every try: :class:`Unresolved`."""
        backoff = Backoff(FIRST_BACKOFF_S, MAX_BACKOFF_S)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return (await self.client.query(order, "")).venue_order_id
            except VenueRejected as exc:
                raise VenueRejected(
                    exc.code, f"{exc.message} (its place answer was lost): not placed"
                ) from exc
            except VenueUnavailable as exc:
                self.failed += 1
                if attempt == self.max_attempts:
                    raise Unresolved(f"not found yet: {exc}") from exc
                wait = backoff.next_delay(exc.retry_after_s)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def look_up(self, order: Order) -> str | None:
        """The venue order id of ``order`` found by its client order id, or None."""
        try:
            return (await self.client.query(order, "")).venue_order_id
        except (VenueRejected, VenueUnavailable):
            return None

    # --- retries -------------------------------------------------------------------------------

    async def call(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``request``, retrying VenueUnavailable with back-off; other errors propagate."""
        backoff = Backoff(FIRST_BACKOFF_S, MAX_BACKOFF_S)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await request()
            except VenueUnavailable as exc:
                self.failed += 1
                if attempt == self.max_attempts:
                    raise
                wait = backoff.next_delay(exc.retry_after_s)
                log.warning("%s: %s: %s; retrying in %.1f s (attempt %d of %d)", self.venue,
                            what, exc, wait, attempt + 1, self.max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")
