"""The live exchange: the OMS's venue interface in front of a real venue's :class:`OrderClient`.

The OMS talks to every venue synchronously (``submit``, ``cancel``, ``advance``, ``drain``: the
interface of :class:`~engine.paper.PaperExchange`), from the market loop, and must never wait on a
network. So :meth:`LiveExchange.submit` and :meth:`LiveExchange.cancel` only queue a job; one
worker (:meth:`LiveExchange.run`, a named task in the engine's TaskGroup) carries the jobs out over
REST in order and turns the venue's answers into order events that :meth:`drain` hands to the OMS:

- ``place`` answered → :class:`OrderAccepted` (then the order is queried at once: a marketable
  order has fills already); :class:`VenueRejected` → :class:`OrderRejected` with the venue's code
  and message.
- fills come from querying the order (each venue trade id becomes one :class:`OrderFilled`, once);
  open orders are polled every ``poll_interval_ns``: one ``open_orders`` call, then a query only for
  the orders whose filled quantity moved or that left the venue's open list.
- ``cancel`` answered → the order is queried for the fills it got before the cancel, then
  :class:`OrderCanceled`; a cancel the venue refuses → :class:`OrderCancelRejected` (or the fills
  and the end state, when the order had already finished).
- :class:`VenueUnavailable` (network, 5xx, rate limit) is retried after ``retry_after_s`` with a
  growing back-off; a rate limit holds every job, since it applies to the whole account.
- a ``place`` whose answer was lost is looked up by client order id. It is sent again only where
  the venue refuses a duplicate client order id (``OrderClient.rejects_duplicate_ids``) or the
  failure certainly did not reach the venue (``VenueUnavailable.unsent``); elsewhere it is looked
  up until the venue lists it (accepted) or says it does not know it (rejected: not placed).

Jobs run one at a time on purpose: a venue's rate limit is per account, and two jobs on the same
order (a poll and a cancel) can never race. At start the worker reconciles the journal's open
orders with the venue's (:mod:`engine.venues.live_reconcile`) before anything else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from engine.domain.clock import Clock
from engine.domain.instrument import Instrument
from engine.domain.market_data import MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from engine.market_state import MarketState
from engine.venues.base import (
    OrderClient,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
    VenueUnavailable,
)

log = logging.getLogger("stom.venues.live")

T = TypeVar("T")

MAX_ATTEMPTS = 5
"""A request that keeps failing with VenueUnavailable is given up after this many tries."""
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0

Reconciled = Callable[[str, list[str]], None]
"""Called once the start-up reconciliation is done: (venue, differences)."""


class _Unresolved(Exception):
    """A place may or may not have reached the venue, and looking it up has not told yet."""


@dataclass
class Tracked:
    """What the live exchange knows of one order that is open (or on its way) on the venue."""

    order: Order
    """The OMS's order (read here, never changed: only events change it)."""
    venue_order_id: str | None = None
    filled_raw: int = 0
    """Sum of the fills reported to the OMS."""
    trade_ids: set[str] = field(default_factory=set)
    placing: bool = False
    """The place request has not been answered yet."""
    cancel_wanted: bool = False
    """A cancel arrived while the place was in flight: sent once the venue has answered."""
    canceling: bool = False
    restored: bool = False
    """Rebuilt from the journal at start: reconciled with the venue before anything else."""


class LiveExchange:
    """One live venue behind the OMS's exchange interface (see the module docstring)."""

    def __init__(
        self,
        client: OrderClient,
        market: MarketState,
        clock: Clock,
        *,
        poll_interval_ns: int = 1_000_000_000,
        on_reconciled: Reconciled | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.client = client
        self.venue = client.venue
        self._market = market
        self._clock = clock
        self._poll_interval_s = poll_interval_ns / 1e9
        self._on_reconciled = on_reconciled
        self._max_attempts = max_attempts
        self._events: list[AnyOrderEvent] = []
        self.tracked: dict[str, Tracked] = {}
        self._jobs: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._poll_queued = False
        self.reconciled = False
        self.requests_failed = 0

    # --- the OMS's interface (synchronous, never waits) ----------------------------------------

    def submit(self, order: Order, now_ns: int) -> None:
        coid = order.client_order_id
        if coid in self.tracked:
            self._events.append(
                OrderRejected(ts=now_ns, client_order_id=coid, reason=f"{coid} is already open")
            )
            return
        self.tracked[coid] = Tracked(order, placing=True)
        self._jobs.put_nowait(("place", coid))

    def cancel(self, client_order_id: str, now_ns: int) -> None:
        tracked = self.tracked.get(client_order_id)
        if tracked is None:
            self._events.append(
                OrderCancelRejected(
                    ts=now_ns,
                    client_order_id=client_order_id,
                    reason=f"order {client_order_id} is not open on {self.venue}",
                )
            )
        elif tracked.placing or tracked.restored:
            tracked.cancel_wanted = True  # sent once the venue has answered the place
        elif not tracked.canceling:
            tracked.canceling = True
            self._jobs.put_nowait(("cancel", client_order_id))

    def restore(self, order: Order, now_ns: int) -> None:
        """Track an order the journal says is open (any open status); the worker reconciles it
        with the venue before it does anything else. Emits nothing by itself."""
        self.tracked[order.client_order_id] = Tracked(
            order,
            venue_order_id=order.venue_order_id,
            filled_raw=order.filled_raw,
            restored=True,
            cancel_wanted=order.status is OrderStatus.PENDING_CANCEL,
        )

    def remember_fills(self, client_order_id: str, trade_ids: set[str]) -> None:
        """Trade ids the journal already holds for a restored order: never reported twice."""
        tracked = self.tracked.get(client_order_id)
        if tracked is not None:
            tracked.trade_ids |= trade_ids

    def advance(self, now_ns: int) -> None:
        """Nothing to do: the worker moves orders as the venue answers."""

    def on_batch(self, batch: MarketBatch) -> None:
        """Nothing to do: the venue matches orders itself."""

    @property
    def has_work(self) -> bool:
        return False

    @property
    def next_due_ns(self) -> int | None:
        return None

    def drain(self) -> list[AnyOrderEvent]:
        events, self._events = self._events, []
        return events

    def open_order_ids(self) -> set[str]:
        return set(self.tracked)

    # --- the worker ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile, then carry out jobs and poll open orders until cancelled."""
        from engine.venues.live_reconcile import reconcile

        differences = await reconcile(self)
        self.reconciled = True
        for line in differences:
            log.warning("reconciliation with %s: %s", self.venue, line)
        if self._on_reconciled is not None:
            self._on_reconciled(self.venue, differences)
        for coid, tracked in list(self.tracked.items()):
            if tracked.cancel_wanted and not tracked.canceling:
                tracked.canceling = True
                self._jobs.put_nowait(("cancel", coid))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll_timer(), name=f"poll-{self.venue}")
                await self._work()
        finally:
            await self.client.close()

    async def _work(self) -> None:
        while True:
            kind, coid = await self._jobs.get()
            try:
                await self._job(kind, coid)
            except Exception:  # a bug in an adapter must not stop trading on other orders
                log.exception("%s: %s of %s failed", self.venue, kind, coid)
                tracked = self.tracked.get(coid)
                if kind == "place" and tracked is not None and tracked.venue_order_id is None:
                    tracked.placing = False  # the polls look it up by client order id

    async def _poll_timer(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval_s)
            if self.tracked and not self._poll_queued:
                self._poll_queued = True
                self._jobs.put_nowait(("poll", ""))

    async def _job(self, kind: str, coid: str) -> None:
        if kind == "poll":
            self._poll_queued = False
            await self.poll()
            return
        tracked = self.tracked.get(coid)
        if tracked is None:
            return
        if kind == "place":
            await self._place(tracked)
        elif kind == "cancel":
            await self._cancel(tracked)

    async def _place(self, tracked: Tracked) -> None:
        order = tracked.order
        coid = order.client_order_id
        state = self._market.get(order.instrument_id)  # type: ignore[arg-type]
        try:
            if state is None:
                raise VenueRejected("unknown_instrument", f"{order.instrument_id} is not loaded")
            venue_order_id = await self._send(order, state.instrument)
        except _Unresolved as exc:
            # Maybe on the venue, maybe not: never sent again; every poll looks it up until the
            # venue says which (_resolve_unacknowledged).
            log.warning("%s: place %s: %s; left to the polls", self.venue, coid, exc)
            tracked.placing = False
            return
        except (VenueRejected, VenueUnavailable) as exc:
            self._finish(tracked)
            reason = self._why(exc)
            if isinstance(exc, VenueUnavailable):
                reason = f"{self.venue} unavailable, order not placed: {exc}"
            self._emit(OrderRejected(ts=self._now(), client_order_id=coid, reason=reason))
            return
        tracked.placing = False
        tracked.venue_order_id = venue_order_id
        self._emit(
            OrderAccepted(ts=self._now(), client_order_id=coid, venue_order_id=venue_order_id)
        )
        if tracked.cancel_wanted:
            await self._cancel(tracked)
        else:
            await self._refresh(tracked)

    async def _send(self, order: Order, instrument: Instrument) -> str:
        """Place ``order``; after a failed try, look it up by client order id before sending it
        again, since the request may have reached the venue before its answer was lost.

        Sending again is only safe where the venue refuses a duplicate client order id; anywhere
        else (Kiwoom, or a client that does not say) see :meth:`_send_unguarded`."""
        if not getattr(self.client, "rejects_duplicate_ids", False):
            return await self._send_unguarded(order, instrument)
        backoff = FIRST_BACKOFF_S
        uncertain = False
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await self.client.place(order, instrument)
            except VenueRejected:
                if not uncertain:
                    raise
                found = await self._look_up(order)  # a duplicate id: the first try got there
                if found is None:
                    raise
                return found
            except VenueUnavailable as exc:
                self.requests_failed += 1
                if attempt == self._max_attempts:
                    found = await self._look_up(order)  # this last try may have got there too
                    if found is not None:
                        return found
                    raise
                uncertain = True
                wait = min(MAX_BACKOFF_S, max(exc.retry_after_s, backoff))
                log.warning("%s: place %s: %s; retrying in %.1f s (attempt %d of %d)", self.venue,
                            order.client_order_id, exc, wait, attempt + 1,
                            self._max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                found = await self._look_up(order)
                if found is not None:
                    return found
        raise AssertionError("unreachable")

    async def _send_unguarded(self, order: Order, instrument: Instrument) -> str:
        """Place ``order`` on a venue that would take a second copy of it: sent again only after
        a failure that certainly did not reach the venue (``VenueUnavailable.unsent``); after any
        other failure it is only looked up (:meth:`_find_sent`), never sent again."""
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await self.client.place(order, instrument)
            except VenueUnavailable as exc:
                self.requests_failed += 1
                if not exc.unsent:
                    log.warning("%s: place %s: %s; the order may be on the venue: looking it up, "
                                "never sending it again", self.venue, order.client_order_id,
                                exc)  # fmt: skip
                    return await self._find_sent(order)
                if attempt == self._max_attempts:
                    raise
                wait = min(MAX_BACKOFF_S, max(exc.retry_after_s, backoff))
                log.warning("%s: place %s: %s (not sent); sending again in %.1f s (attempt %d "
                            "of %d)", self.venue, order.client_order_id, exc, wait, attempt + 1,
                            self._max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
        raise AssertionError("unreachable")

    async def _find_sent(self, order: Order) -> str:
        """The venue order id of ``order``, whose place may have reached the venue: looked up
        with back-off until the venue lists it, or says it does not know it (VenueRejected: the
        order was not placed). Still unknown after every try: :class:`_Unresolved`."""
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, self._max_attempts + 1):
            try:
                return (await self.client.query(order, "")).venue_order_id
            except VenueRejected as exc:
                raise VenueRejected(
                    exc.code, f"{exc.message} (its place answer was lost): not placed"
                ) from exc
            except VenueUnavailable as exc:
                self.requests_failed += 1
                if attempt == self._max_attempts:
                    raise _Unresolved(f"not found yet: {exc}") from exc
                wait = min(MAX_BACKOFF_S, max(exc.retry_after_s, backoff))
                await asyncio.sleep(wait)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
        raise AssertionError("unreachable")

    async def _look_up(self, order: Order) -> str | None:
        """The venue order id of ``order`` found by its client order id, or None."""
        try:
            return (await self.client.query(order, "")).venue_order_id
        except (VenueRejected, VenueUnavailable):
            return None

    async def _cancel(self, tracked: Tracked) -> None:
        order = tracked.order
        tracked.canceling = True
        tracked.cancel_wanted = False
        try:
            await self.call(
                lambda: self.client.cancel(order, tracked.venue_order_id or ""),
                f"cancel {order.client_order_id}",
            )
        except (VenueRejected, VenueUnavailable) as exc:
            tracked.canceling = False
            state = await self._query(tracked)
            if state is not None:
                self.apply_state(tracked, state)
            if order.client_order_id in self.tracked:  # still open: the cancel failed
                self._emit(
                    OrderCancelRejected(
                        ts=self._now(),
                        client_order_id=order.client_order_id,
                        reason=self._why(exc),
                    )
                )
            return
        await self._refresh(tracked)

    async def poll(self) -> None:
        """One round: the venue's open orders, then a query for each order that moved."""
        if not self.tracked:
            return
        try:
            states = await self.call(self.client.open_orders, "open orders")
        except (VenueRejected, VenueUnavailable) as exc:
            log.warning("%s: open orders not polled: %s", self.venue, exc)
            return
        open_now = {state.client_order_id: state for state in states}
        by_venue_id = {state.venue_order_id: state for state in states}
        for coid, tracked in list(self.tracked.items()):
            if tracked.placing:
                continue
            if tracked.venue_order_id is None:
                # Unacknowledged: reconciling could not ask, or its answer was unreadable.
                await self._resolve_unacknowledged(tracked, open_now.get(coid))
                continue
            state = open_now.get(coid) or by_venue_id.get(tracked.venue_order_id)
            if state is not None and state.filled_raw == tracked.filled_raw:
                continue  # unchanged
            if state is None or not self._covers(tracked, state):
                await self._refresh(tracked)
            else:
                self.apply_state(tracked, state)

    async def _resolve_unacknowledged(
        self, tracked: Tracked, state: VenueOrderState | None
    ) -> None:
        """Find an order the venue never acknowledged by its client order id: accepted (then its
        fills and end), or rejected when the venue does not know it."""
        order = tracked.order
        coid = order.client_order_id
        if state is None:
            try:
                state = await self.call(lambda: self.client.query(order, ""), f"look up {coid}")
            except VenueUnavailable as exc:
                log.warning("%s: order %s not looked up: %s", self.venue, coid, exc)
                return
            except VenueRejected:
                self._finish(tracked)
                reason = f"not found on {self.venue}: it never reached the venue"
                self._emit(OrderRejected(ts=self._now(), client_order_id=coid, reason=reason))
                return
        tracked.venue_order_id = state.venue_order_id
        self._emit(
            OrderAccepted(ts=self._now(), client_order_id=coid, venue_order_id=state.venue_order_id)
        )
        self.apply_state(tracked, state)
        if tracked.cancel_wanted and not tracked.canceling and coid in self.tracked:
            tracked.canceling = True
            self._jobs.put_nowait(("cancel", coid))

    async def _refresh(self, tracked: Tracked) -> None:
        state = await self._query(tracked)
        if state is not None:
            self.apply_state(tracked, state)

    async def _query(self, tracked: Tracked) -> VenueOrderState | None:
        order = tracked.order
        try:
            return await self.call(
                lambda: self.client.query(order, tracked.venue_order_id or ""),
                f"query {order.client_order_id}",
            )
        except (VenueRejected, VenueUnavailable) as exc:
            log.warning("%s: order %s not queried: %s", self.venue, order.client_order_id, exc)
            return None

    # --- answers into events -------------------------------------------------------------------

    def apply_state(self, tracked: Tracked, state: VenueOrderState) -> None:
        """Report ``state``'s new fills, then its end (if it ended)."""
        order = tracked.order
        coid = order.client_order_id
        for fill in state.fills:
            if fill.trade_id in tracked.trade_ids:
                continue
            tracked.trade_ids.add(fill.trade_id)
            quantity, fee = fill.quantity_raw, fill.fee_raw
            rest = order.quantity_raw - tracked.filled_raw
            if quantity > rest:
                # Recorded once, so it is not seen again on every poll; only the rest is counted
                # (the order cannot fill beyond its quantity), so the order closes as filled.
                log.error("%s: fill %s of order %s is %d (raw) but only %d of its %d remain; "
                          "%d counted: check the position on the venue", self.venue,
                          fill.trade_id, coid, quantity, rest, order.quantity_raw,
                          max(rest, 0))  # fmt: skip
                if rest <= 0:
                    continue
                quantity, fee = rest, fee * rest // quantity
            tracked.filled_raw += quantity
            self._emit(
                OrderFilled(
                    ts=self._now(),
                    client_order_id=coid,
                    trade_id=fill.trade_id,
                    price_raw=fill.price_raw,
                    quantity_raw=quantity,
                    fee_raw=fee,
                    liquidity=fill.liquidity,
                )
            )
        status = state.status
        if status is VenueOrderStatus.OPEN:
            return
        if status is VenueOrderStatus.FILLED:
            if tracked.filled_raw < order.quantity_raw:
                return  # the venue knows of fills it has not listed yet: the next poll gets them
            self._finish(tracked)
            return
        if tracked.filled_raw < state.filled_raw:
            return  # ended with fills not listed yet (cancelled, expired): the next poll gets them
        self._finish(tracked)
        now = self._now()
        reason = state.reason or f"{status.value} by {self.venue}"
        if status is VenueOrderStatus.REJECTED and tracked.venue_order_id is None:
            self._emit(OrderRejected(ts=now, client_order_id=coid, reason=reason))
        elif tracked.canceling or order.status is OrderStatus.PENDING_CANCEL:
            self._emit(OrderCanceled(ts=now, client_order_id=coid))
        elif order.order_type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC:
            why = f"the venue ended the unfilled rest ({reason})"
            self._emit(OrderExpired(ts=now, client_order_id=coid, reason=why))
        elif status is VenueOrderStatus.CANCELED:
            self._emit(OrderCanceled(ts=now, client_order_id=coid, reason=f"{reason}"))
        else:
            self._emit(OrderExpired(ts=now, client_order_id=coid, reason=reason))

    def _covers(self, tracked: Tracked, state: VenueOrderState) -> bool:
        """True when ``state`` lists every fill behind its filled quantity."""
        listed = sum(fill.quantity_raw for fill in state.fills)
        return bool(state.fills) and listed == state.filled_raw

    def _finish(self, tracked: Tracked) -> None:
        self.tracked.pop(tracked.order.client_order_id, None)

    def _emit(self, event: AnyOrderEvent) -> None:
        self._events.append(event)

    def _now(self) -> int:
        return self._clock.now_ns()

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, VenueRejected):
            return f"{self.venue} {exc.code}: {exc.message}"
        return f"{self.venue}: {exc}"

    # --- retries -------------------------------------------------------------------------------

    async def call(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``request``, retrying VenueUnavailable with back-off; other errors propagate."""
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await request()
            except VenueUnavailable as exc:
                self.requests_failed += 1
                if attempt == self._max_attempts:
                    raise
                wait = min(MAX_BACKOFF_S, max(exc.retry_after_s, backoff))
                log.warning("%s: %s: %s; retrying in %.1f s (attempt %d of %d)", self.venue,
                            what, exc, wait, attempt + 1, self._max_attempts)  # fmt: skip
                await asyncio.sleep(wait)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
        raise AssertionError("unreachable")
