"""The exchange's own record of an order, and where a resting order stands in its level's queue.

A resting limit order joins the back of its price level: ``queue_ahead`` starts at the size the
feed displays there on the order's own side (0 for an empty level). It only ever shrinks:

* trades at the order's price whose aggressor is on the other side take the volume ahead first
  (:func:`advance_queue`); what they trade beyond it reaches the order;
* a size update at the order's price caps ``queue_ahead`` at the new size (:func:`cap_queue`).
  A decrease not explained by trades is read as cancels ahead of us only as far as needed. A
  decrease that a trade already explained changes nothing, because ``queue_ahead`` never exceeds
  the displayed size: after a trade of ``t``, ``queue_ahead - t <= displayed - t``. So the cap is
  applied to every update and no previous size has to be remembered for the watched levels.
"""

from __future__ import annotations

from engine.domain.orders import TimeInForce


class PaperOrder:
    """The paper exchange's record of one order; the OMS's :class:`Order` is never touched."""

    __slots__ = (
        "client_order_id",
        "index",
        "instrument_id",
        "is_buy",
        "is_market",
        "leaves",
        "price",
        "quantity",
        "queue_ahead",
        "time_in_force",
    )

    def __init__(
        self,
        client_order_id: str,
        instrument_id: str,
        *,
        is_buy: bool,
        is_market: bool,
        time_in_force: TimeInForce,
        price: int,
        quantity: int,
        leaves: int,
    ) -> None:
        self.client_order_id = client_order_id
        self.instrument_id = instrument_id
        self.index = -1
        """The instrument's index in the market state, once known."""
        self.is_buy = is_buy
        self.is_market = is_market
        self.time_in_force = time_in_force
        self.price = price
        """Limit price (raw); 0 for a market order."""
        self.quantity = quantity
        self.leaves = leaves
        """Quantity still open on the paper exchange (raw)."""
        self.queue_ahead = 0
        """Displayed size ahead of this order at its price (raw), while it rests."""

    def __repr__(self) -> str:
        side = "buy" if self.is_buy else "sell"
        return (
            f"PaperOrder({self.client_order_id!r}, {side} {self.leaves}/{self.quantity} "
            f"@ {self.price}, ahead {self.queue_ahead})"
        )


def advance_queue(order: PaperOrder, traded: int) -> int:
    """A trade of ``traded`` at the order's price: the volume that got past the queue ahead."""
    ahead = order.queue_ahead
    if traded <= ahead:
        order.queue_ahead = ahead - traded
        return 0
    order.queue_ahead = 0
    return traded - ahead


def cap_queue(orders: list[PaperOrder], displayed: int) -> None:
    """The feed set the size at these orders' price to ``displayed``."""
    for order in orders:
        if order.queue_ahead > displayed:  # noqa: PLR1730 (a branch beats min() per update)
            order.queue_ahead = displayed
