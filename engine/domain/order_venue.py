"""The port the OMS sends orders through: one venue, paper or live, or a router over several.

:class:`~engine.paper.PaperExchange`, :class:`~engine.venues.live_exchange.LiveExchange` and
:class:`~engine.venues.router.VenueRouter` each implement it structurally (none inherits from it;
mypy checks each where it is used as one). Everything is synchronous: a venue queues what it is
told and hands back what happened at :meth:`OrderVenue.drain`, which the OMS calls from its pump,
so a command and the market loop never interleave inside an operation.
"""

from __future__ import annotations

from typing import Protocol

from engine.domain.market_data import MarketBatch
from engine.domain.orders import AnyOrderEvent, Order


class OrderVenue(Protocol):
    """What the OMS, the strategy runner and the backtest call on the venue of their orders."""

    def submit(self, order: Order, now_ns: int) -> None:
        """Send a new order (its events come back through :meth:`drain`)."""

    def cancel(self, client_order_id: str, now_ns: int) -> None:
        """Ask for an order to be canceled; an unknown id comes back as a cancel rejection."""

    def restore(self, order: Order, now_ns: int) -> None:
        """Take back an order the journal holds as acknowledged, after a restart (never resent)."""

    def on_batch(self, batch: MarketBatch) -> None:
        """Market events, already applied to the market state (a paper venue fills against them)."""

    def advance(self, now_ns: int) -> None:
        """Run what has fallen due up to ``now_ns`` (arrivals, cancels after their latency)."""

    def drain(self) -> list[AnyOrderEvent]:
        """The order events since the last call, oldest first."""

    def open_order_ids(self) -> set[str]:
        """Client order ids the venue holds open (reconciled with the journal on start)."""

    @property
    def has_work(self) -> bool:
        """True while anything rests or waits (the market loop skips the venue otherwise)."""

    @property
    def next_due_ns(self) -> int | None:
        """When the next queued step falls due, for cutting a replay at that time."""
