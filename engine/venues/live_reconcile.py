"""Start-up reconciliation of a live venue: the journal's open orders against the venue's.

The journal is written before an order leaves, so after a restart it may hold orders the venue
never received (the engine died between the journal and the request), orders that filled or were
cancelled while the engine was down, and orders it still has open. The venue may also hold open
orders the journal does not know (placed by hand on the venue's website): they are reported, never
touched. Every difference becomes a line of the ``oms/reconcile`` payload and a log warning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from engine.domain.orders import AnyOrderEvent, OrderAccepted, OrderRejected
from engine.venues.base import OrderClient, VenueOrderState, VenueRejected, VenueUnavailable
from engine.venues.live_orders import Tracked

T = TypeVar("T")


class ReconciledExchange(Protocol):
    """What reconciliation uses of :class:`~engine.venues.live_exchange.LiveExchange` (named
    here so that this module need not import the exchange, which imports it)."""

    venue: str
    client: OrderClient
    tracked: dict[str, Tracked]

    async def call(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """``request`` with the exchange's retries."""
        ...

    def apply_state(self, tracked: Tracked, state: VenueOrderState) -> None:
        """Report ``state``'s new fills, then its end."""

    def _emit(self, event: AnyOrderEvent) -> None: ...

    def _now(self) -> int: ...


async def reconcile(exchange: ReconciledExchange) -> list[str]:
    """Bring every restored order in line with the venue; returns the differences found."""
    venue = exchange.venue
    restored = [t for t in exchange.tracked.values() if t.restored]
    try:
        venue_open = await exchange.call(exchange.client.open_orders, "open orders")
    except (VenueRejected, VenueUnavailable) as exc:
        for tracked in restored:
            tracked.restored = False
        return [
            f"could not list the open orders on {venue} ({exc}); journal orders kept as they are"
        ]
    by_coid = {state.client_order_id: state for state in venue_open if state.client_order_id}
    by_venue_id = {state.venue_order_id: state for state in venue_open}
    known: set[str] = set()
    differences: list[str] = []
    for tracked in restored:
        tracked.restored = False
        order = tracked.order
        coid = order.client_order_id
        state = by_coid.get(coid) or by_venue_id.get(tracked.venue_order_id or "")
        if state is None:
            try:
                state = await _look_up(exchange, tracked)
            except VenueUnavailable as exc:
                differences.append(f"order {coid}: {venue} could not be asked ({exc}); kept open")
                continue
        if state is None:
            exchange.tracked.pop(coid, None)
            reason = f"not found on {venue} after a restart: it never reached the venue"
            exchange._emit(OrderRejected(ts=exchange._now(), client_order_id=coid, reason=reason))
            differences.append(f"order {coid} is open in the journal but unknown to {venue}")
            continue
        known.add(state.venue_order_id)
        if tracked.venue_order_id is None:
            tracked.venue_order_id = state.venue_order_id
            exchange._emit(
                OrderAccepted(
                    ts=exchange._now(), client_order_id=coid, venue_order_id=state.venue_order_id
                )
            )
        before = (tracked.filled_raw, coid in exchange.tracked)
        exchange.apply_state(tracked, state)
        if (tracked.filled_raw, coid in exchange.tracked) != before:
            differences.append(
                f"order {coid} changed on {venue} while the engine was away: now "
                f"{state.status.value}, {tracked.filled_raw} filled (raw)"
            )
    for state in venue_open:
        if state.venue_order_id not in known and state.client_order_id not in exchange.tracked:
            differences.append(
                f"order {state.venue_order_id} on {state.instrument_id} is open on {venue} but "
                "not in the journal: left alone (cancel it on the venue if it is not yours)"
            )
    return differences


async def ask_venue(exchange: ReconciledExchange, tracked: Tracked) -> VenueOrderState:
    """The order's state by its venue id, or by its client order id when it never got one, with
    the exchange's retries (a venue that does not know the order: :class:`VenueRejected`)."""
    order = tracked.order
    return await exchange.call(
        lambda: exchange.client.query(order, tracked.venue_order_id or ""),
        f"query {order.client_order_id}",
    )


async def _look_up(exchange: ReconciledExchange, tracked: Tracked) -> VenueOrderState | None:
    """The order's state, or None when the venue does not know it."""
    try:
        return await ask_venue(exchange, tracked)
    except VenueRejected:
        return None
