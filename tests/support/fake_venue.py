"""An in-memory :class:`OrderClient` for the live exchange's unit tests.

It keeps orders the way a venue does (venue ids, fills with trade ids, open/filled/cancelled), lets
a test fill them, and can refuse requests with venue codes or be unavailable for a few calls. The
real wire protocols are proven against each venue's loopback server (``tests/venues/<venue>/``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from decimal import Decimal

from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderType
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
    VenueUnavailable,
)


@dataclass
class FakeOrder:
    state: VenueOrderState
    quantity_raw: int
    fills: list[VenueFill] = field(default_factory=list)


class FakeVenueClient:
    """A venue in memory; ``calls`` lists every request as ``(kind, client order id)``."""

    def __init__(
        self, venue: str = "UPBIT", *, min_notional_raw: int = 0, rejects_duplicate_ids: bool = True
    ) -> None:
        self.venue = venue
        self.rejects_duplicate_ids = rejects_duplicate_ids
        """True: like Upbit, a second place with a client order id already used is refused.
        False: like Kiwoom, every place is a new order."""
        self.orders: dict[str, FakeOrder] = {}
        self.calls: list[tuple[str, str]] = []
        self.unavailable = 0
        """The next this many requests raise VenueUnavailable (a rate limit)."""
        self.reject_next: tuple[str, str] | None = None
        """The next place is refused with this (code, message)."""
        self.lose_next_place = False
        """The next place reaches the venue but its answer is lost (a timeout)."""
        self.drop_next_place = False
        """The next place is lost on its way (a timeout too): the venue never gets it."""
        self.refuse_connections = 0
        """The next this many places fail before anything is sent (connection refused)."""
        self.unlisted_lookups = 0
        """The next this many look-ups by client order id (``query(order, "")``) do not see the
        order yet (like Kiwoom's settle window): VenueUnavailable."""
        self.closed = False
        self._ids = itertools.count(1)
        self._trades = itertools.count(1)
        self.min_notional_raw = min_notional_raw

    def _gate(self, kind: str, coid: str) -> None:
        self.calls.append((kind, coid))
        if self.unavailable:
            self.unavailable -= 1
            raise VenueUnavailable("429 too many requests", retry_after_s=0.01, unsent=True)

    async def place(self, order: Order, instrument: Instrument) -> str:
        self._gate("place", order.client_order_id)
        if self.refuse_connections:
            self.refuse_connections -= 1
            raise VenueUnavailable("connection refused", retry_after_s=0.01, unsent=True)
        if self.drop_next_place:
            self.drop_next_place = False
            raise VenueUnavailable("read timeout")
        if self.rejects_duplicate_ids and any(
            r.state.client_order_id == order.client_order_id for r in self.orders.values()
        ):
            raise VenueRejected("duplicate_identifier", "identifier가 중복되었습니다.")
        if self.reject_next is not None:
            code, message = self.reject_next
            self.reject_next = None
            raise VenueRejected(code, message)
        if order.order_type is OrderType.LIMIT and (
            order.price_raw * order.quantity_raw < self.min_notional_raw
        ):
            raise VenueRejected("under_min_total_bid", "최소주문금액 이상으로 주문해주세요")
        venue_order_id = f"V{next(self._ids)}"
        self.orders[venue_order_id] = FakeOrder(
            VenueOrderState(
                client_order_id=order.client_order_id,
                venue_order_id=venue_order_id,
                instrument_id=order.instrument_id,
                status=VenueOrderStatus.OPEN,
                filled_raw=0,
            ),
            order.quantity_raw,
        )
        if self.lose_next_place:
            self.lose_next_place = False
            raise VenueUnavailable("read timeout")
        return venue_order_id

    def add_foreign(self, instrument_id: str, quantity_raw: int) -> str:
        """An order placed on the venue by someone else (the website)."""
        venue_order_id = f"W{next(self._ids)}"
        self.orders[venue_order_id] = FakeOrder(
            VenueOrderState("", venue_order_id, instrument_id, VenueOrderStatus.OPEN, 0),
            quantity_raw,
        )
        return venue_order_id

    def fill(self, venue_order_id: str, quantity_raw: int, price_raw: int) -> None:
        record = self.orders[venue_order_id]
        trade = VenueFill(
            trade_id=f"T{next(self._trades)}",
            client_order_id=record.state.client_order_id,
            price_raw=price_raw,
            quantity_raw=quantity_raw,
            fee_raw=price_raw * quantity_raw // 2000,
            liquidity="maker",
            ts=0,
        )
        record.fills.append(trade)
        filled = record.state.filled_raw + quantity_raw
        status = VenueOrderStatus.FILLED if filled == record.quantity_raw else record.state.status
        record.state = replace(record.state, filled_raw=filled, status=status)

    def _find(self, order: Order, venue_order_id: str) -> FakeOrder:
        record = self.orders.get(venue_order_id)
        if record is None:
            for candidate in self.orders.values():
                if candidate.state.client_order_id == order.client_order_id:
                    return candidate
            raise VenueRejected("order_not_found", "주문을 찾지 못했습니다.")
        return record

    async def cancel(self, order: Order, venue_order_id: str) -> None:
        self._gate("cancel", order.client_order_id)
        record = self._find(order, venue_order_id)
        if record.state.status is not VenueOrderStatus.OPEN:
            raise VenueRejected("order_not_found", "이미 체결된 주문입니다.")
        record.state = replace(record.state, status=VenueOrderStatus.CANCELED)

    async def query(self, order: Order, venue_order_id: str) -> VenueOrderState:
        self._gate("query", order.client_order_id)
        if not venue_order_id and self.unlisted_lookups:
            self.unlisted_lookups -= 1
            raise VenueUnavailable(f"{order.client_order_id} not listed yet", retry_after_s=0.01)
        record = self._find(order, venue_order_id)
        return replace(record.state, fills=tuple(record.fills))

    async def open_orders(self) -> list[VenueOrderState]:
        self._gate("open_orders", "")
        # Like Upbit's open-orders listing: no trades in it.
        return [r.state for r in self.orders.values() if r.state.status is VenueOrderStatus.OPEN]

    async def balances(self) -> list[Balance]:
        return [Balance("KRW", Decimal("1000000"), Decimal(0))]

    async def close(self) -> None:
        self.closed = True
