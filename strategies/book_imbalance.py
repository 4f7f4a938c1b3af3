"""Order-book imbalance: buy when resting bids outweigh resting asks near the touch.

Idea
    Sum the sizes of the best ``depth`` bid levels and the best ``depth`` ask levels;
    ``imbalance = (bids - asks) / (bids + asks)`` runs from -1 (all asks) to +1 (all bids).
    A book heavy on the bid side tends to push the price up in the next moments. When the
    imbalance stays at or above ``entry_imbalance`` for ``confirm`` book updates in a row, buy
    ``order_value`` worth at market.

Parameters
    depth             book levels per side in the sums
    entry_imbalance   imbalance that opens a position
    exit_imbalance    imbalance at or below which the position closes (the pressure flipped)
    confirm           consecutive book updates the entry signal must hold
    order_value       value of each entry, in the quote currency
    take_profit_bps   exit this many basis points above the entry (last trade price)
    stop_loss_bps     exit this many basis points below it
    max_hold_s        exit after this many seconds in any case (0: never)

Exits
    The imbalance falling to ``exit_imbalance``, take-profit, stop-loss or time: a market sell of
    the whole position. Long only; one position and one working order per instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy, StrategyContext, StrategyFill
from engine.strategy.bracket import Bracket
from engine.strategy.sizing import quantity_for_value


class BookImbalance(Strategy):
    """Buy a bid-heavy book; exit when it flips, or on take-profit, stop-loss or time."""

    depth = Param(5, low=1, high=20, step=1, doc="levels per side")
    entry_imbalance = Param(0.5, low=0.1, high=0.95, step=0.05, doc="imbalance to enter")
    exit_imbalance = Param(-0.2, low=-0.95, high=0.5, step=0.05, doc="imbalance to exit")
    confirm = Param(3, low=1, high=50, step=1, doc="book updates the signal must hold")
    order_value = Param(100_000.0, low=5_000.0, high=10_000_000.0, step=5_000.0, doc="per entry")
    take_profit_bps = Param(20.0, low=2.0, high=200.0, step=2.0, doc="take-profit, bps")
    stop_loss_bps = Param(15.0, low=2.0, high=200.0, step=2.0, doc="stop-loss, bps")
    max_hold_s = Param(60.0, low=0.0, high=3_600.0, step=10.0, doc="longest hold, s")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        self.bracket = Bracket(self.take_profit_bps, self.stop_loss_bps, self.max_hold_s)
        self.streak: dict[int, int] = {}
        self.imbalance: dict[int, float] = {}

    def book_imbalance(self, i: int) -> float:
        bids = sum(size for _, size in self.ctx.top_bids(i, self.depth))
        asks = sum(size for _, size in self.ctx.top_asks(i, self.depth))
        total = bids + asks
        return (bids - asks) / total if total else 0.0

    def on_book(self, i: int, ts: int) -> None:
        imbalance = self.imbalance[i] = self.book_imbalance(i)
        streak = self.streak[i] = (
            self.streak.get(i, 0) + 1 if imbalance >= self.entry_imbalance else 0
        )
        ctx, bracket = self.ctx, self.bracket
        if bracket.busy(i):
            return
        if ctx.position(i) > 0:
            price = ctx.last_price(i) or ctx.best_bid(i)
            if imbalance <= self.exit_imbalance or bracket.exit_reason(i, price, ts):
                bracket.sent(ctx, i, ctx.close_position(i))
            return
        if streak >= self.confirm:
            price = ctx.best_ask(i)
            quantity = quantity_for_value(ctx.instrument(i), price, self.order_value)
            if quantity > 0:
                self.streak[i] = 0
                bracket.sent(ctx, i, ctx.buy(i, quantity))

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        # Take-profit and stop-loss also on trades: a quiet book must not hide a price move.
        ctx, bracket = self.ctx, self.bracket
        if ctx.position(i) > 0 and not bracket.busy(i) and bracket.exit_reason(i, price, ts):
            bracket.sent(ctx, i, ctx.close_position(i))

    def on_fill(self, fill: StrategyFill) -> None:
        self.bracket.on_fill(self.ctx, fill)

    def on_order(self, order: Order) -> None:
        self.bracket.on_order(self.ctx, order)

    def save_state(self) -> dict[str, Any]:
        return self.bracket.save(self.ctx)

    def load_state(self, state: dict[str, Any]) -> None:
        self.bracket.load(self.ctx, state)
