"""A venue's order state as the order events it means for a tracked live order.

:func:`new_fills` gives each venue trade id of the order once (never beyond the order's quantity);
:func:`order_end` says whether the state ends the order and with which event: a venue's ``filled``
ends it silently once every fill is in (the last fill closes it in the OMS), ``canceled``,
``expired`` and ``rejected`` become the event the order's own history calls for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.domain.orders import (
    AnyOrderEvent,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from engine.venues.base import VenueOrderState, VenueOrderStatus
from engine.venues.live_orders import Tracked

log = logging.getLogger("stom.venues.live")


def new_fills(
    tracked: Tracked, state: VenueOrderState, venue: str, now: Callable[[], int]
) -> list[OrderFilled]:
    """``state``'s fills not reported yet, recorded on ``tracked`` (trade ids, filled quantity)."""
    order = tracked.order
    coid = order.client_order_id
    fills: list[OrderFilled] = []
    for fill in state.fills:
        if fill.trade_id in tracked.trade_ids:
            continue
        tracked.trade_ids.add(fill.trade_id)
        quantity, fee, fee_base = fill.quantity_raw, fill.fee_raw, fill.fee_base_raw
        rest = order.quantity_raw - tracked.filled_raw
        if quantity > rest:
            # Recorded once, so it is not seen again on every poll; only the rest is counted
            # (the order cannot fill beyond its quantity), so the order closes as filled.
            log.error("%s: fill %s of order %s is %d (raw) but only %d of its %d remain; "
                      "%d counted: check the position on the venue", venue,
                      fill.trade_id, coid, quantity, rest, order.quantity_raw,
                      max(rest, 0))  # fmt: skip
            if rest <= 0:
                continue
            quantity, fee, fee_base = rest, fee * rest // quantity, fee_base * rest // quantity
        tracked.filled_raw += quantity
        fills.append(
            OrderFilled(
                ts=now(),
                client_order_id=coid,
                trade_id=fill.trade_id,
                price_raw=fill.price_raw,
                quantity_raw=quantity,
                fee_raw=fee,
                liquidity=fill.liquidity,
                fee_base_raw=fee_base,
                fee_asset=fill.fee_asset,
                fee_charged=fill.fee_charged,
            )
        )
    return fills


def order_end(
    tracked: Tracked, state: VenueOrderState, venue: str, now: Callable[[], int]
) -> tuple[bool, AnyOrderEvent | None]:
    """Whether ``state`` ends the order (after :func:`new_fills`), and the event that says so."""
    order = tracked.order
    coid = order.client_order_id
    status = state.status
    if status is VenueOrderStatus.OPEN:
        return False, None
    if status is VenueOrderStatus.FILLED:
        # Short of the order's quantity, the venue knows of fills it has not listed yet: the
        # next poll gets them.
        return tracked.filled_raw >= order.quantity_raw, None
    if tracked.filled_raw < state.filled_raw:
        return False, None  # ended with fills not listed yet: the next poll gets them
    ts = now()
    reason = state.reason or f"{status.value} by {venue}"
    if status is VenueOrderStatus.REJECTED and tracked.venue_order_id is None:
        return True, OrderRejected(ts=ts, client_order_id=coid, reason=reason)
    if tracked.canceling or order.status is OrderStatus.PENDING_CANCEL:
        return True, OrderCanceled(ts=ts, client_order_id=coid)
    if order.order_type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC:
        why = f"the venue ended the unfilled rest ({reason})"
        return True, OrderExpired(ts=ts, client_order_id=coid, reason=why)
    if status is VenueOrderStatus.CANCELED:
        return True, OrderCanceled(ts=ts, client_order_id=coid, reason=f"{reason}")
    return True, OrderExpired(ts=ts, client_order_id=coid, reason=reason)
