"""Puts the OMS on the bus: each order event in order, and conflated snapshots at flush time."""

from __future__ import annotations

from typing import Literal

from engine.domain.orders import AnyOrderEvent, Order, OrderFilled
from engine.oms.oms import Oms
from engine.oms.rows import balance_rows, fill_row, order_row, position_rows
from engine.outbox import Outbox
from engine.protocol import trading as t
from engine.protocol.topics import Topics

RECENT_CLOSED_ORDERS = 50
"""Closed orders kept in the retained ``oms/orders`` snapshot (the journal keeps them all)."""


class OmsPublisher:
    """Order events go out as ordered events; orders, positions, account and risk as state."""

    def __init__(
        self, oms: Oms, outbox: Outbox, topics: Topics, *, mode: Literal["paper", "live"] = "paper"
    ) -> None:
        self.oms = oms
        self.outbox = outbox
        self.topics = topics
        self.mode = mode
        self._seq = 0
        self._orders_dirty = True
        self._account_dirty = True
        self._risk_dirty = True
        self._positions_dirty = True
        oms.listeners.append(self.on_order_event)
        oms.on_state_change = self.on_state_change

    def on_order_event(self, event: AnyOrderEvent, order: Order) -> None:
        instrument = self.oms.instrument(order.instrument_id)
        if instrument is None:
            return
        # The journal's seq: one meaning across restarts (a client de-duplicates by it). An
        # event the journal did not just write (none today) gets the next after the last seen.
        journaled = self.oms.journal.seq_of(event)
        self._seq = journaled if journaled is not None else self._seq + 1
        fill = None
        if isinstance(event, OrderFilled):
            fill = fill_row(event, order, instrument)
            self._positions_dirty = True
        reason = getattr(event, "reason", None)
        tag = type(event).__struct_config__.tag  # every order event is tagged with its name
        update = t.OrderUpdate(
            ts=event.ts,
            seq=self._seq,
            event=tag if isinstance(tag, str) else "order",
            order=order_row(order, instrument),
            fill=fill,
            reason=reason if isinstance(reason, str) else None,
        )
        self.outbox.publish(self.topics.order_events, update)
        self._orders_dirty = self._account_dirty = self._risk_dirty = True

    def on_state_change(self) -> None:
        self._risk_dirty = self._positions_dirty = self._account_dirty = True

    def collect(self, now_ns: int) -> None:
        """Called before each bus flush; marks move, so open positions republish every flush."""
        oms, outbox, topics = self.oms, self.outbox, self.topics
        if self._orders_dirty:
            rows = []
            for order in oms.iter_recent(RECENT_CLOSED_ORDERS):
                instrument = oms.instrument(order.instrument_id)
                if instrument is not None:
                    rows.append(order_row(order, instrument))
            outbox.publish(topics.orders, t.Orders(ts=now_ns, orders=rows))
            self._orders_dirty = False
        has_open = any(not position.is_flat for position in oms.positions.values())
        if self._positions_dirty or has_open:
            outbox.publish(topics.positions, t.Positions(ts=now_ns, positions=position_rows(oms)))
            self._positions_dirty = False
        if self._account_dirty:
            account = t.Account(ts=now_ns, mode=self.mode, balances=balance_rows(oms.account))
            outbox.publish(topics.account, account)
            self._account_dirty = False
        if self._risk_dirty or has_open:
            outbox.publish(topics.risk, oms.risk_payload(now_ns))
            self._risk_dirty = False

    def publish_reconciliation(self, now_ns: int, venue: str, differences: list[str]) -> None:
        report = t.Reconciliation(ts=now_ns, venue=venue, differences=differences)
        self.outbox.publish(self.topics.reconciliation, report)
