"""One exchange for the OMS, routing each order by its instrument's venue.

Paper-mode venues and the simulator (SIM) share the :class:`~engine.paper.PaperExchange`, which
fills orders against whatever books the engine holds, real or simulated: paper trading on a live
Upbit book needs no keys. Live-mode venues each have a :class:`LiveExchange` that sends orders to
the venue (and the risk engine's ``not_armed`` rule keeps them from leaving until ``stom arm``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from engine.domain.market_data import MarketBatch
from engine.domain.order_venue import OrderVenue
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

log = logging.getLogger("stom.venues.router")

ENDINGS = (OrderCanceled, OrderRejected, OrderExpired)
"""Events after which an order needs no routing."""

MODES_KEY = "venues.mode"
"""Journal state: each venue's mode ("paper" or "live") in the engine run that last opened the
journal, so the next run knows which exchange took the open orders it finds there."""

PAPER_VENUE_ORDER_ID = re.compile(r"P\d+-\d+")
"""The paper exchange's venue order ids (``P<journal seq>-<n>``), never a real venue's."""


def venue_modes(previous: object, venues: Iterable[str], live: Iterable[str]) -> dict[str, str]:
    """The :data:`MODES_KEY` record for this run: ``previous`` updated with ``venues``' modes."""
    modes = {str(k): str(v) for k, v in previous.items()} if isinstance(previous, dict) else {}
    live = set(live)
    modes.update({venue: "live" if venue in live else "paper" for venue in venues})
    return modes


def venue_of(instrument_id: str) -> str:
    """``KRW-BTC.UPBIT`` -> ``UPBIT``."""
    return instrument_id.rpartition(".")[2]


class LiveOrdersLeftOpen(ValueError):
    """The journal holds open orders a venue took in live mode, and that venue is in paper mode
    now: the paper exchange must not pretend to hold them (they are on the venue)."""


def live_orders_left_open(
    previous_modes: object, open_orders: Iterable[Order], live: Iterable[str]
) -> list[str]:
    """One line per open order taken live by a venue that is not live now, saying what to do."""
    from engine.venues.registry import BY_CODE

    modes = previous_modes if isinstance(previous_modes, dict) else {}
    live = set(live)
    lines = []
    for order in open_orders:
        venue = venue_of(order.instrument_id)
        if venue in live or venue not in BY_CODE:
            continue
        if venue in modes:
            taken_live = modes[venue] == "live"
        else:  # a journal from before modes were recorded: a venue's own id says live
            taken_live = bool(order.venue_order_id) and not PAPER_VENUE_ORDER_ID.fullmatch(
                order.venue_order_id or ""
            )
        if taken_live:
            section = f"[venues.{BY_CODE[venue].name}]"
            lines.append(
                f"order {order.client_order_id} on {order.instrument_id} is open on {venue}, "
                f"which took it in live mode, but {venue} is in paper mode now: set {section} "
                'mode = "live" and start once to cancel or reconcile it (stom cancel), then '
                "switch back to paper"
            )
    return lines


class VenueRouter:
    """The exchange interface of :class:`PaperExchange`, over the paper and live exchanges."""

    def __init__(
        self,
        paper: PaperExchange,
        live: Mapping[str, LiveExchange],
        *,
        previous_modes: object = None,
    ) -> None:
        """``previous_modes`` is the journal's :data:`MODES_KEY` record (None: none yet): which
        venues were paper when the journal's open orders were taken."""
        self.paper = paper
        self.live = dict(live)
        self._venue_of_order: dict[str, str] = {}
        """Live venue of each order its live exchange tracks (paper orders need no entry: a cancel
        without one goes to the paper exchange). Dropped once the order ends."""
        self._previous_modes = previous_modes if isinstance(previous_modes, dict) else None
        self._ending_paper: set[str] = set()
        """Paper orders of a venue that went live, cancelled on the paper exchange and not yet
        drained (still open until the OMS takes their OrderCanceled)."""

    @property
    def live_venues(self) -> frozenset[str]:
        return frozenset(self.live)

    def _route(self, instrument_id: str) -> OrderVenue:
        # Typed as the port so that mypy checks both exchanges implement it.
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
        if isinstance(exchange, LiveExchange) and self._taken_on_paper(order):
            self._end_paper_order(order, now_ns)
            return
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

    def _taken_on_paper(self, order: Order) -> bool:
        """True when the paper exchange took ``order`` (its venue was paper then): it must never
        be looked up on the live venue, which has never heard of it."""
        venue = venue_of(order.instrument_id)
        if self._previous_modes is not None and venue in self._previous_modes:
            return self._previous_modes[venue] == "paper"
        # A journal from before modes were recorded: the paper exchange's ids tell.
        return bool(PAPER_VENUE_ORDER_ID.fullmatch(order.venue_order_id or ""))

    def _end_paper_order(self, order: Order, now_ns: int) -> None:
        venue = venue_of(order.instrument_id)
        reason = (
            f"paper order left open when {venue} switched from paper to live: cancelled on the "
            "paper exchange (it never was on the venue)"
        )
        log.warning("order %s on %s: %s", order.client_order_id, order.instrument_id, reason)
        self._ending_paper.add(order.client_order_id)
        self.paper.end_restored(order, now_ns, reason)

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
                self._ending_paper.discard(event.client_order_id)
        if len(routes) > sum(len(exchange.tracked) for exchange in self.live.values()):
            # An order ended without an ending event (its last fill): forget what is not tracked.
            for coid, venue in list(routes.items()):
                if coid not in self.live[venue].tracked:
                    del routes[coid]
        return events

    def open_order_ids(self) -> set[str]:
        ids = self.paper.open_order_ids() | self._ending_paper
        for exchange in self.live.values():
            ids |= exchange.open_order_ids()
        return ids

    @property
    def has_work(self) -> bool:
        return self.paper.has_work

    @property
    def next_due_ns(self) -> int | None:
        return self.paper.next_due_ns
