"""The live exchange: the OMS's venue interface in front of a real venue's :class:`OrderClient`.

The OMS talks to every venue synchronously (``submit``, ``cancel``, ``advance``, ``drain``: the
interface of :class:`~engine.paper.PaperExchange`), from the market loop, and must never wait on a
network. So :meth:`LiveExchange.submit` and :meth:`LiveExchange.cancel` only queue a job; one
worker (:meth:`LiveExchange.run`, a named task in the engine's TaskGroup) carries the jobs out over
REST in order and turns the venue's answers into order events that :meth:`drain` hands to the OMS:

- ``place`` answered → :class:`OrderAccepted` (then the order is queried at once: a marketable
  order has fills already); :class:`VenueRejected` → :class:`OrderRejected` with the venue's code
  and message.
- fills come from the private stream and from querying the order (each venue trade id becomes
  one :class:`OrderFilled`, once: :mod:`engine.venues.live_state_events`); open orders are polled
  every ``poll_interval_ns`` (:mod:`engine.venues.live_poll`).
- ``cancel`` answered → the order is queried for the fills it got before the cancel, then
  :class:`OrderCanceled`; a cancel the venue refuses → :class:`OrderCancelRejected` (or the fills
  and the end state, when the order had already finished).
- :class:`VenueUnavailable` (network, 5xx, rate limit) is retried with back-off, and a ``place``
  whose answer was lost is looked up, not blindly sent again (:mod:`engine.venues.live_requests`);
  a rate limit holds every job, since it applies to the whole account.

Jobs run one at a time on purpose: a venue's rate limit is per account, and two jobs on the same
order (a poll and a cancel) can never race. At start the worker reconciles the journal's open
orders with the venue's (:mod:`engine.venues.live_reconcile`) before anything else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from engine.domain.clock import Clock
from engine.domain.market_data import MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderStatus,
)
from engine.market_state import MarketState
from engine.venues.base import (
    Balance,
    OrderClient,
    VenueOrderState,
    VenueRejected,
    VenueUnavailable,
)
from engine.venues.live_orders import Tracked
from engine.venues.live_poll import poll_open_orders, query, refresh
from engine.venues.live_requests import MAX_ATTEMPTS, Unresolved, VenueRequests
from engine.venues.live_state_events import new_fills, order_end

if TYPE_CHECKING:
    from engine.venues.private_stream import PrivateStream

log = logging.getLogger("stom.venues.live")

T = TypeVar("T")

HOLDINGS_INTERVAL_S = 1.0
"""Positions are checked against the venue's balances after fills, at most this often (a burst
of fills costs one balances request: Kiwoom's is two of its few requests a second)."""
STREAM_POLL_INTERVAL_NS = 10_000_000_000
"""While the private stream is up, open orders are polled this seldom (reconciliation only)."""

Reconciled = Callable[[str, list[str]], None]
"""Called once the start-up reconciliation is done: (venue, differences)."""


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
        private_stream: PrivateStream | None = None,
        stream_poll_interval_ns: int = STREAM_POLL_INTERVAL_NS,
    ) -> None:
        self.client = client
        self.venue = client.venue
        self._market = market
        self._clock = clock
        self._poll_interval_s = poll_interval_ns / 1e9
        self._on_reconciled = on_reconciled
        self.requests = VenueRequests(client, max_attempts)
        self._events: list[AnyOrderEvent] = []
        self.tracked: dict[str, Tracked] = {}
        self._jobs: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._poll_queued = False
        self.reconciled = False
        # The venue's private stream (engine/venues/private_stream.py): fills pushed as they
        # happen; polling then only reconciles, every stream_poll_interval_ns.
        self.private_stream = private_stream
        self._stream_poll_interval_s = stream_poll_interval_ns / 1e9
        self.stream_live = False
        self.stream_updates = 0
        self.venue_balances: dict[str, Balance] = {}
        """The balances the private stream last reported, by currency."""
        self.held_positions: Callable[[], Mapping[str, int]] | None = None
        """The engine's positions (raw quantity by instrument id), wired in by the trading core:
        checked against the venue's balances after each fill (engine/venues/live_holdings.py)."""
        self.differences: list[str] = []
        """The differences last reported: the start-up reconciliation's, then holdings'."""
        self._startup_differences: list[str] = []
        self._holdings_queued = False
        self._holdings_checked = float("-inf")

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
            self._queue_cancel(tracked)

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
        self._startup_differences = differences
        self._queue_holdings()
        self._report(differences, differences)
        for tracked in list(self.tracked.values()):
            if tracked.cancel_wanted and not tracked.canceling:
                self._queue_cancel(tracked)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll_timer(), name=f"poll-{self.venue}")
                if self.private_stream is not None:
                    from engine.venues.private_stream import StreamBridge

                    stream = self.private_stream.run(StreamBridge(self))
                    group.create_task(stream, name=f"private-stream-{self.venue}")
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
        loop = asyncio.get_running_loop()
        last_poll = loop.time()
        while True:
            await asyncio.sleep(self._poll_interval_s)
            # With the stream up, fills are pushed: polling only reconciles, seldom (it spends
            # the rate limit), unless an order's place answer was lost (only a poll finds it).
            lost = any(t.venue_order_id is None and not t.placing for t in self.tracked.values())
            seldom = self.stream_live and not lost
            if seldom and loop.time() - last_poll < self._stream_poll_interval_s:
                continue
            last_poll = loop.time()
            if self.tracked:
                self.request_poll()

    def request_poll(self) -> None:
        """Queue one poll of the open orders (unless one is queued already)."""
        if not self._poll_queued:
            self._poll_queued = True
            self._jobs.put_nowait(("poll", ""))

    async def _job(self, kind: str, coid: str) -> None:
        if kind == "holdings":
            await self._check_holdings()
            return
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
        state = self._market.get(order.instrument_id)
        try:
            if state is None:
                raise VenueRejected("unknown_instrument", f"{order.instrument_id} is not loaded")
            venue_order_id = await self.requests.place(order, state.instrument)
        except Unresolved as exc:
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
            await refresh(self, tracked)

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
            state = await query(self, tracked)
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
        await refresh(self, tracked)

    async def poll(self) -> None:
        """One round: the venue's open orders, then a query for each order that moved."""
        await poll_open_orders(self)

    # --- answers into events -------------------------------------------------------------------

    def apply_state(self, tracked: Tracked, state: VenueOrderState) -> None:
        """Report ``state``'s new fills, then its end (if it ended)."""
        if self.tracked.get(tracked.order.client_order_id) is not tracked:
            return  # ended already: a stream update and a query both saw its end
        for fill in new_fills(tracked, state, self.venue, self._now):
            self._emit(fill)
        ended, event = order_end(tracked, state, self.venue, self._now)
        if ended:
            self._finish(tracked)
        if event is not None:
            self._emit(event)

    def _queue_cancel(self, tracked: Tracked) -> None:
        tracked.canceling = True
        self._jobs.put_nowait(("cancel", tracked.order.client_order_id))

    def _finish(self, tracked: Tracked) -> None:
        self.tracked.pop(tracked.order.client_order_id, None)

    def _emit(self, event: AnyOrderEvent) -> None:
        self._events.append(event)
        if isinstance(event, OrderFilled) and self.reconciled:
            self._queue_holdings()

    # --- holdings ------------------------------------------------------------------------------

    def _queue_holdings(self) -> None:
        if self.held_positions is not None and not self._holdings_queued:
            self._holdings_queued = True
            self._jobs.put_nowait(("holdings", ""))

    async def _check_holdings(self) -> None:
        """Compare the positions with the venue's balances; report a change in what differs."""
        from engine.venues.live_holdings import holding_differences

        self._holdings_queued = False
        if self.held_positions is None:
            return
        loop = asyncio.get_running_loop()
        wait = self._holdings_checked + HOLDINGS_INTERVAL_S - loop.time()
        if self._events or wait > 0:  # fills the OMS has not taken yet, or a check just ran
            loop.call_later(max(wait, 0.05), self._queue_holdings)
            return
        self._holdings_checked = loop.time()
        try:
            balances = await self.call(self.client.balances, "balances")
        except (VenueRejected, VenueUnavailable) as exc:
            log.warning("%s: balances not read for reconciliation: %s", self.venue, exc)
            return
        if self._events:
            asyncio.get_running_loop().call_later(0.05, self._queue_holdings)
            return
        instruments = [s.instrument for s in self._market if s.instrument.id.venue == self.venue]
        lines = holding_differences(self.venue, instruments, self.held_positions(), balances)
        differences = self._startup_differences + lines
        if differences != self.differences:
            self._report(lines, differences)

    def _report(self, new: list[str], differences: list[str]) -> None:
        """Log the ``new`` differences and report all of them (``oms/reconcile``)."""
        self.differences = differences
        for line in new:
            log.warning("reconciliation with %s: %s", self.venue, line)
        if self._on_reconciled is not None:
            self._on_reconciled(self.venue, differences)

    def _now(self) -> int:
        return self._clock.now_ns()

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, VenueRejected):
            return f"{self.venue} {exc.code}: {exc.message}"
        return f"{self.venue}: {exc}"

    async def call(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``request``, retrying VenueUnavailable with back-off; other errors propagate."""
        return await self.requests.call(request, what)
