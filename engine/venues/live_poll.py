"""Asking a live venue about orders: one order's query, and the poll of the open orders that
finds what the private stream (when there is one) missed.

One round lists the venue's open orders (one request), then queries only the orders whose
filled quantity moved or that left the list; an order whose place answer was lost is looked up by
its client order id (accepted, or rejected when the venue does not know it).
"""

from __future__ import annotations

import logging
from typing import Protocol

from engine.domain.orders import OrderAccepted, OrderRejected
from engine.venues.base import VenueOrderState, VenueRejected, VenueUnavailable
from engine.venues.live_orders import Tracked
from engine.venues.live_reconcile import ReconciledExchange, ask_venue

log = logging.getLogger("stom.venues.live")


class PolledExchange(ReconciledExchange, Protocol):
    """What polling uses of :class:`~engine.venues.live_exchange.LiveExchange` (named here so
    that this module need not import the exchange, which imports it)."""

    def _finish(self, tracked: Tracked) -> None: ...

    def _queue_cancel(self, tracked: Tracked) -> None: ...


async def poll_open_orders(exchange: PolledExchange) -> None:
    """One round: the venue's open orders, then a query for each order that moved."""
    if not exchange.tracked:
        return
    try:
        states = await exchange.call(exchange.client.open_orders, "open orders")
    except (VenueRejected, VenueUnavailable) as exc:
        log.warning("%s: open orders not polled: %s", exchange.venue, exc)
        return
    open_now = {state.client_order_id: state for state in states}
    by_venue_id = {state.venue_order_id: state for state in states}
    for coid, tracked in list(exchange.tracked.items()):
        if tracked.placing:
            continue
        if tracked.venue_order_id is None:
            # Unacknowledged: reconciling could not ask, or its answer was unreadable.
            await _resolve_unacknowledged(exchange, tracked, open_now.get(coid))
            continue
        state = open_now.get(coid) or by_venue_id.get(tracked.venue_order_id)
        if state is not None and state.filled_raw == tracked.filled_raw:
            continue  # unchanged
        if state is None or not _covers(state):
            await refresh(exchange, tracked)
        else:
            exchange.apply_state(tracked, state)


async def _resolve_unacknowledged(
    exchange: PolledExchange, tracked: Tracked, state: VenueOrderState | None
) -> None:
    """Find an order the venue never acknowledged by its client order id: accepted (then its
    fills and end), or rejected when the venue does not know it."""
    order = tracked.order
    coid = order.client_order_id
    venue = exchange.venue
    if state is None:
        try:
            state = await exchange.call(lambda: exchange.client.query(order, ""), f"look up {coid}")
        except VenueUnavailable as exc:
            log.warning("%s: order %s not looked up: %s", venue, coid, exc)
            return
        except VenueRejected:
            exchange._finish(tracked)
            reason = f"not found on {venue}: it never reached the venue"
            exchange._emit(OrderRejected(ts=exchange._now(), client_order_id=coid, reason=reason))
            return
    tracked.venue_order_id = state.venue_order_id
    exchange._emit(
        OrderAccepted(ts=exchange._now(), client_order_id=coid, venue_order_id=state.venue_order_id)
    )
    exchange.apply_state(tracked, state)
    if tracked.cancel_wanted and not tracked.canceling and coid in exchange.tracked:
        exchange._queue_cancel(tracked)


async def refresh(exchange: ReconciledExchange, tracked: Tracked) -> None:
    """Query the order and apply what the venue says of it."""
    state = await query(exchange, tracked)
    if state is not None:
        exchange.apply_state(tracked, state)


async def query(exchange: ReconciledExchange, tracked: Tracked) -> VenueOrderState | None:
    """The order's state on the venue, or None (logged) when the venue could not say."""
    try:
        return await ask_venue(exchange, tracked)
    except (VenueRejected, VenueUnavailable) as exc:
        coid = tracked.order.client_order_id
        log.warning("%s: order %s not queried: %s", exchange.venue, coid, exc)
        return None


def _covers(state: VenueOrderState) -> bool:
    """True when ``state`` lists every fill behind its filled quantity."""
    listed = sum(fill.quantity_raw for fill in state.fills)
    return bool(state.fills) and listed == state.filled_raw
