"""Quotes on the touch with limit orders: bid when flat, offer when long; re-quotes (cancel) when
the touch moves away. Exercises resting orders, queue positions, cancels and latency."""

from __future__ import annotations

from engine.domain.orders import OrderStatus
from engine.strategy.api import Param, Strategy


class Quoter(Strategy):
    """Joins the best bid when flat and the best ask when long; cancels a quote left behind."""

    size = Param(0.002, low=0.0, high=1.0, doc="quote size, base currency")
    away_ticks = Param(2, low=1, high=50, doc="cancel when the touch is this many ticks away")

    def on_book(self, i: int, ts: int) -> None:
        ctx = self.ctx
        bid, ask = ctx.best_bid(i), ctx.best_ask(i)
        if not bid or not ask:
            return
        tick = ctx.instrument(i).tick_table.tick_at(bid)
        orders = ctx.open_orders(i)
        for order in orders:
            if order.status is OrderStatus.PENDING_CANCEL:
                continue
            touch = bid if order.side == "buy" else ask
            if abs(order.price_raw - touch) >= self.away_ticks * tick:
                ctx.cancel(order.client_order_id)
        if orders:
            return
        held = ctx.position(i)
        if held > 0:
            ctx.sell(i, held, ask)
        elif held == 0:
            quantity = ctx.size_raw(i, self.size)
            if quantity * bid >= 10 ** (ctx.instrument(i).size_precision) * 6_000:
                ctx.buy(i, quantity, bid)
            else:
                ctx.buy(i, max(quantity, ctx.instrument(i).lot_size_raw), bid)
