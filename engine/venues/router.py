"""One exchange for the OMS, routing each order by its instrument's venue.

Paper-mode venues and the simulator (SIM) share the :class:`~engine.paper.PaperExchange`, which
fills orders against whatever books the engine holds, real or simulated: paper trading on a live
Upbit book needs no keys. Live-mode venues each have a :class:`LiveExchange` that sends orders to
the venue (and the risk engine's ``not_armed`` rule keeps them from leaving until ``stom arm``).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.domain.market_data import MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderStatus,
)
from engine.paper import PaperExchange
from engine.venues.live_exchange import LiveExchange

ENDINGS = (OrderCanceled, OrderRejected, OrderExpired)
"""Events after which an order needs no routing."""


def venue_of(instrument_id: str) -> str:
    """``KRW-BTC.UPBIT`` -> ``UPBIT``."""
    return instrument_id.rpartition(".")[2]


class VenueRouter:
    """The exchange interface of :class:`PaperExchange`, over the paper and live exchanges."""

    def __init__(self, paper: PaperExchange, live: Mapping[str, LiveExchange]) -> None:
        self.paper = paper
        self.live = dict(live)
        self._venue_of_order: dict[str, str] = {}
        """Live venue of each order its live exchange tracks (paper orders need no entry: a cancel
        without one goes to the paper exchange). Dropped once the order ends."""

    @property
    def live_venues(self) -> frozenset[str]:
        return frozenset(self.live)

    def _route(self, instrument_id: str) -> PaperExchange | LiveExchange:
        return self.live.get(venue_of(instrument_id)) or self.paper

    # --- commands ----------------------------------------------------------------------------

    def _remember(self, order: Order) -> None:
        venue = venue_of(order.instrument_id)
        if venue in self.live:
            self._venue_of_order[order.client_order_id] = venue

    def submit(self, order: Order, now_ns: int) -> None:
        self._remember(order)
        self._route(order.instrument_id).submit(order, now_ns)

    def cancel(self, client_order_id: str, now_ns: int) -> None:
        venue = self._venue_of_order.get(client_order_id, "")
        exchange = self.live.get(venue) or self.paper
        exchange.cancel(client_order_id, now_ns)

    def restore(self, order: Order, now_ns: int) -> None:
        self._remember(order)
        self._route(order.instrument_id).restore(order, now_ns)

    def resume(self, order: Order, now_ns: int, trade_ids: set[str]) -> None:
        """Put a journal-open order back after a restart.

        Paper: a submission never acknowledged is sent again, others rest at once. Live: the
        order is tracked and reconciled with the venue (never sent twice); ``trade_ids`` are the
        fills the journal already holds, so the venue's listing of them is not counted again.
        """
        exchange = self._route(order.instrument_id)
        self._remember(order)
        if isinstance(exchange, LiveExchange):
            exchange.restore(order, now_ns)
            exchange.remember_fills(order.client_order_id, trade_ids)
        elif order.status is OrderStatus.SUBMITTED:
            exchange.submit(order, now_ns)
        else:
            exchange.restore(order, now_ns)
            if order.status is OrderStatus.PENDING_CANCEL:
                exchange.cancel(order.client_order_id, now_ns)

    # --- time and market data ----------------------------------------------------------------

    def on_batch(self, batch: MarketBatch) -> None:
        if self.paper.has_work:
            self.paper.on_batch(batch)

    def advance(self, now_ns: int) -> None:
        self.paper.advance(now_ns)

    def drain(self) -> list[AnyOrderEvent]:
        events = self.paper.drain()
        for exchange in self.live.values():
            events.extend(exchange.drain())
        routes = self._venue_of_order
        for event in events:
            if isinstance(event, ENDINGS):
                routes.pop(event.client_order_id, None)
        if len(routes) > sum(len(exchange.tracked) for exchange in self.live.values()):
            # An order ended without an ending event (its last fill): forget what is not tracked.
            for coid, venue in list(routes.items()):
                if coid not in self.live[venue].tracked:
                    del routes[coid]
        return events

    def open_order_ids(self) -> set[str]:
        ids = self.paper.open_order_ids()
        for exchange in self.live.values():
            ids |= exchange.open_order_ids()
        return ids

    @property
    def has_work(self) -> bool:
        return self.paper.has_work

    @property
    def next_due_ns(self) -> int | None:
        return self.paper.next_due_ns
