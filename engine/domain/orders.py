"""Orders: their vocabulary, the events that move them, and the state machine.

Every change to an order is an event (past tense, immutable). :meth:`Order.apply` is the only way
to change an order, so the journal (a list of events) rebuilds every order exactly, and an event
that does not fit the order's state raises :class:`InvalidTransition` instead of corrupting it.
Prices and quantities are raw integers (see :mod:`engine.domain`); a fill's fee is raw at the
notional scale ``price_precision + size_precision`` (see :mod:`engine.domain.fees`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

import msgspec


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    """Good till cancelled: rests on the book."""
    IOC = "ioc"
    """Immediate or cancel: fills what it can now, the rest expires."""
    FOK = "fok"
    """Fill or kill: fills entirely now, or not at all."""


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    """Passed risk and sent; the venue has not answered yet."""
    ACCEPTED = "accepted"
    """Working on the venue."""
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    """IOC/FOK remainder, or a market order's unfilled rest."""
    REJECTED = "rejected"
    """Refused by the venue (or the paper broker)."""
    DENIED = "denied"
    """Refused by STOM's risk checks before it left."""

    @property
    def is_open(self) -> bool:
        return self in _OPEN

    @property
    def is_terminal(self) -> bool:
        return self not in _OPEN


_OPEN = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }
)

Liquidity = Literal["maker", "taker"]


class InvalidTransition(ValueError):
    """An event that does not fit the order's current state."""


# --- events ---------------------------------------------------------------------------------


class OrderEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Base of every order event; ``ts`` is integer ns UTC from the engine's clock."""

    ts: int
    client_order_id: str


class OrderSubmitted(OrderEvent, frozen=True, kw_only=True, tag="submitted"):
    instrument_id: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity_raw: int
    price_raw: int
    """Limit price; for a market order, 0."""
    strategy_id: str = "manual"
    replaces: str | None = None
    """The order this one replaces (cancel/replace), if any."""


class OrderDenied(OrderSubmitted, frozen=True, kw_only=True, tag="denied"):
    """Risk refused the order before it left: it carries the whole order and the rule."""

    rule: str
    reason: str


class OrderAccepted(OrderEvent, frozen=True, kw_only=True, tag="accepted"):
    venue_order_id: str


class OrderRejected(OrderEvent, frozen=True, kw_only=True, tag="rejected"):
    reason: str


class OrderFilled(OrderEvent, frozen=True, kw_only=True, tag="filled", omit_defaults=True):
    """One execution. ``fee_raw`` values the whole fee in the quote currency (notional scale),
    for PnL; the fee fields below say what the venue really took, when not the quote currency
    (defaults omitted from the encoding, so quote-currency fills encode as they always did)."""

    trade_id: str
    price_raw: int
    quantity_raw: int
    fee_raw: int
    liquidity: Liquidity
    fee_base_raw: int = 0
    """Part of the fee the venue withheld in the instrument's base asset (raw at the size scale,
    Binance's base-asset commission): the account holds ``quantity_raw - fee_base_raw`` after a
    buy, and gives up ``quantity_raw + fee_base_raw`` for a sell."""
    fee_asset: str = ""
    """The asset the venue charged the fee in; empty means the quote currency."""
    fee_charged: str = ""
    """The fee as the venue charged it, in ``fee_asset`` (decimal text, the venue's figure)."""


class OrderPendingCancel(OrderEvent, frozen=True, kw_only=True, tag="pending_cancel"):
    pass


class OrderCanceled(OrderEvent, frozen=True, kw_only=True, tag="canceled"):
    reason: str = "cancelled"


class OrderCancelRejected(OrderEvent, frozen=True, kw_only=True, tag="cancel_rejected"):
    reason: str


class OrderExpired(OrderEvent, frozen=True, kw_only=True, tag="expired"):
    reason: str


AnyOrderEvent = (
    OrderSubmitted
    | OrderDenied
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderPendingCancel
    | OrderCanceled
    | OrderCancelRejected
    | OrderExpired
)


# --- the order ------------------------------------------------------------------------------


class Order:
    """One order's current state, built only from its events (see :meth:`apply`)."""

    __slots__ = (
        "client_order_id",
        "fee_raw",
        "filled_notional_raw",
        "filled_raw",
        "instrument_id",
        "order_type",
        "price_raw",
        "quantity_raw",
        "reason",
        "replaces",
        "side",
        "status",
        "strategy_id",
        "time_in_force",
        "ts_created",
        "ts_last",
        "venue_order_id",
    )

    def __init__(self, submitted: OrderSubmitted) -> None:
        self.client_order_id = submitted.client_order_id
        self.instrument_id = submitted.instrument_id
        self.side = submitted.side
        self.order_type = submitted.order_type
        self.time_in_force = submitted.time_in_force
        self.quantity_raw = submitted.quantity_raw
        self.price_raw = submitted.price_raw
        self.strategy_id = submitted.strategy_id
        self.replaces = submitted.replaces
        self.ts_created = self.ts_last = submitted.ts
        self.status = OrderStatus.SUBMITTED
        self.filled_raw = 0
        self.filled_notional_raw = 0
        """Sum of fill price x fill quantity, raw at the notional scale."""
        self.fee_raw = 0
        self.venue_order_id: str | None = None
        self.reason: str | None = None
        if isinstance(submitted, OrderDenied):
            self.status = OrderStatus.DENIED
            self.reason = f"{submitted.rule}: {submitted.reason}"

    @property
    def leaves_raw(self) -> int:
        """Quantity still open (0 once the order is terminal)."""
        return self.quantity_raw - self.filled_raw if self.status.is_open else 0

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def apply(self, event: AnyOrderEvent) -> None:
        """Move the order by one event; raises :class:`InvalidTransition` if it does not fit.

        The legal moves are the table :data:`TRANSITIONS` (event x state -> new state); an
        event's effect (:data:`_EFFECTS`) checks what the table cannot (a fill's size, a second
        acknowledgement), updates the order's figures, and may name a different state than the
        table's usual one (a fill that completes the order). Nothing changes if it raises.
        """
        if event.client_order_id != self.client_order_id:
            raise InvalidTransition(
                f"event for {event.client_order_id} applied to order {self.client_order_id}"
            )
        kind = type(event)
        target = TRANSITIONS.get(kind, _NONE).get(self.status)
        if target is None:  # OrderSubmitted / OrderDenied only create orders
            raise self._invalid(event)
        effect = _EFFECTS.get(kind)
        if effect is not None:
            target = effect(self, event) or target
        self.status = target
        self.ts_last = event.ts

    def _invalid(self, event: OrderEvent) -> InvalidTransition:
        kind = type(event).__name__
        return InvalidTransition(
            f"order {self.client_order_id}: {kind} is not valid in state {self.status.value}"
        )


# --- the state machine as data ---------------------------------------------------------------

_S = OrderStatus
_NONE: dict[OrderStatus, OrderStatus] = {}

TRANSITIONS: dict[type[OrderEvent], dict[OrderStatus, OrderStatus]] = {
    # A cancel may be sent before the venue has acknowledged the order: the acknowledgement
    # then finds it pending cancel, and leaves it so.
    OrderAccepted: {_S.SUBMITTED: _S.ACCEPTED, _S.PENDING_CANCEL: _S.PENDING_CANCEL},
    OrderRejected: {_S.SUBMITTED: _S.REJECTED, _S.PENDING_CANCEL: _S.REJECTED},
    # A fill that completes the order makes it FILLED instead (see _fill).
    OrderFilled: {
        _S.SUBMITTED: _S.PARTIALLY_FILLED,
        _S.ACCEPTED: _S.PARTIALLY_FILLED,
        _S.PARTIALLY_FILLED: _S.PARTIALLY_FILLED,
        _S.PENDING_CANCEL: _S.PENDING_CANCEL,
    },
    OrderPendingCancel: {
        _S.SUBMITTED: _S.PENDING_CANCEL,
        _S.ACCEPTED: _S.PENDING_CANCEL,
        _S.PARTIALLY_FILLED: _S.PENDING_CANCEL,
    },
    OrderCanceled: dict.fromkeys(_OPEN, _S.CANCELED),
    OrderExpired: dict.fromkeys(_OPEN, _S.EXPIRED),
    # Back to where it was working: ACCEPTED, or PARTIALLY_FILLED / SUBMITTED (see
    # _cancel_rejected).
    OrderCancelRejected: {_S.PENDING_CANCEL: _S.ACCEPTED},
}
"""Event type -> {state it may arrive in: the state it leaves the order in}. A pair that is not
here is an :class:`InvalidTransition`."""


def _fill(order: Order, event: OrderFilled) -> OrderStatus | None:
    open_raw = order.quantity_raw - order.filled_raw
    if event.quantity_raw <= 0 or event.quantity_raw > open_raw:
        raise InvalidTransition(
            f"order {order.client_order_id}: fill of {event.quantity_raw} exceeds the "
            f"open quantity {open_raw}"
        )
    order.filled_raw += event.quantity_raw
    order.filled_notional_raw += event.price_raw * event.quantity_raw
    order.fee_raw += event.fee_raw
    return _S.FILLED if order.filled_raw == order.quantity_raw else None


def _accepted(order: Order, event: OrderAccepted) -> OrderStatus | None:
    if order.venue_order_id is not None:
        raise order._invalid(event)  # acknowledged twice
    order.venue_order_id = event.venue_order_id
    return None


def _cancel_rejected(order: Order, event: OrderCancelRejected) -> OrderStatus | None:
    order.reason = event.reason
    if order.filled_raw:
        return _S.PARTIALLY_FILLED
    if order.venue_order_id is None:
        return _S.SUBMITTED
    return None


def _ended(order: Order, event: OrderRejected | OrderCanceled | OrderExpired) -> None:
    order.reason = event.reason


# Each effect takes the event type it is keyed by (a dict cannot say so to the type checker).
_EFFECTS: dict[type[OrderEvent], Callable[[Order, Any], OrderStatus | None]] = {
    OrderFilled: _fill,
    OrderAccepted: _accepted,
    OrderRejected: _ended,
    OrderCanceled: _ended,
    OrderExpired: _ended,
    OrderCancelRejected: _cancel_rejected,
}
