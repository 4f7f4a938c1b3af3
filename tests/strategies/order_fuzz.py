"""Orders of every kind at random (seeded): market orders that walk the book, limit orders from
deep to marketable, IOC and FOK, cancels. What it does at each trade depends only on the draws
and what it has been told (fills, order ends), so two runs that tell it the same things send the
same orders: a run whose fills differ sends different ones from there on."""

from __future__ import annotations

import random

from engine.domain.orders import Order, TimeInForce
from engine.strategy.api import Param, Strategy, StrategyFill

TICK = 1_000


class OrderFuzz(Strategy):
    """A random trader (see the module docstring)."""

    seed = Param(1, low=0, high=1_000_000, doc="random seed")
    rate = Param(0.2, low=0.0, high=1.0, doc="chance of an action at a trade")

    def on_start(self) -> None:
        self.rng = random.Random(self.seed)
        self.working: list[str] = []

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        rng = self.rng
        if rng.random() >= self.rate:
            return
        ctx = self.ctx
        action = rng.random()
        quantity = rng.choice((200_000, 1_000_000, 5_000_000, 20_000_000, 40_000_000))
        held = ctx.position(i)
        if action < 0.25 and self.working:
            ctx.cancel(self.working.pop(rng.randrange(len(self.working))))
        elif action < 0.35:
            self.working.append(ctx.buy(i, quantity))  # a market order, walking the asks
        elif action < 0.45 and held > 0:
            self.working.append(ctx.sell(i, min(held, quantity)))
        elif len(self.working) < 6:
            tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK))
            offset = rng.randint(-3, 3) * TICK
            if held > 0 and rng.random() < 0.5:
                self.working.append(ctx.sell(i, min(held, quantity), price + offset, tif))
            else:
                self.working.append(ctx.buy(i, quantity, price + offset, tif))

    def on_fill(self, fill: StrategyFill) -> None:
        self.rng.random()  # (a fill moves the draws on: a missed one changes what follows)

    def on_order(self, order: Order) -> None:
        if not order.is_open and order.client_order_id in self.working:
            self.working.remove(order.client_order_id)
