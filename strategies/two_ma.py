"""Two moving averages of trade prices: buy the fast one crossing above the slow one.

Idea
    Keep exact integer sums of the last ``fast`` and ``slow`` trade prices. When the fast
    average moves above the slow one (it was not above at the previous trade), momentum has
    turned up: buy ``order_value`` worth at market.

Parameters
    fast              trades in the fast average
    slow              trades in the slow average (the strategy waits for that many trades)
    order_value       value of each entry, in the quote currency (rounded down to the lot size)
    take_profit_bps   exit when the last price is this many basis points above the entry
    stop_loss_bps     exit when it is this many basis points below

Exits
    Take-profit or stop-loss: a market sell of the whole position. Long only; one position and
    one working order per instrument at a time.

Both forms
    ``on_trade`` is the event form (live, paper, backtest). ``signals`` states the same
    decisions as arrays (``docs/vector-path.md``), which ``stom optimize`` evaluates on the
    vector path and re-checks against the event form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.domain.orders import Order
from engine.optimize.vector_signals import (
    Signals,
    TradeTape,
    quantities_for_value,
    rising,
    rolling_sum,
)
from engine.strategy.api import Param, Strategy, StrategyContext, StrategyFill
from engine.strategy.bracket import Bracket
from engine.strategy.sizing import quantity_for_value


class _Averages:
    """One instrument's last ``slow`` prices, the two window sums and the last comparison."""

    __slots__ = ("above", "fast_sum", "prices", "seen", "slow_sum")

    def __init__(self, slow: int) -> None:
        self.prices = [0] * slow
        self.seen = 0
        self.fast_sum = 0
        self.slow_sum = 0
        self.above = False


class TwoMovingAverages(Strategy):
    """Buy the fast average crossing above the slow one; exit on take-profit or stop-loss."""

    fast = Param(20, low=2, high=200, step=2, doc="trades in the fast average")
    slow = Param(100, low=10, high=2_000, step=10, doc="trades in the slow average")
    order_value = Param(1_000_000.0, low=10_000.0, high=50_000_000.0, step=10_000.0,
                        doc="per entry")  # fmt: skip
    take_profit_bps = Param(20, low=1, high=500, step=1, doc="take-profit, bps")
    stop_loss_bps = Param(20, low=1, high=500, step=1, doc="stop-loss, bps")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        if self.fast > self.slow:
            raise ValueError(f"fast ({self.fast}) must not exceed slow ({self.slow})")
        self.averages: dict[int, _Averages] = {}
        self.bracket = Bracket(self.take_profit_bps, self.stop_loss_bps, 0.0)

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        averages = self.averages.get(i)
        if averages is None:
            averages = self.averages[i] = _Averages(self.slow)
        fast, slow = self.fast, self.slow
        prices, seen = averages.prices, averages.seen
        averages.slow_sum += price - prices[seen % slow]
        averages.fast_sum += price - prices[(seen - fast) % slow] if seen >= fast else price
        prices[seen % slow] = price
        seen = averages.seen = seen + 1
        if seen < slow:
            return
        above = averages.fast_sum * slow > averages.slow_sum * fast
        crossed = above and not averages.above
        averages.above = above
        bracket, ctx = self.bracket, self.ctx
        if bracket.busy(i):
            return
        if ctx.position(i) > 0:
            if bracket.exit_reason(i, price, ts):
                bracket.sent(ctx, i, ctx.close_position(i))
            return
        if crossed:
            quantity = quantity_for_value(ctx.instrument(i), price, self.order_value)
            if quantity > 0:
                bracket.sent(ctx, i, ctx.buy(i, quantity))

    def on_fill(self, fill: StrategyFill) -> None:
        self.bracket.on_fill(self.ctx, fill)

    def on_order(self, order: Order) -> None:
        self.bracket.on_order(self.ctx, order)

    def save_state(self) -> dict[str, Any]:
        return self.bracket.save(self.ctx)

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.bracket.load(self.ctx, state)

    @classmethod
    def signals(cls, tape: TradeTape, params: Mapping[str, Any]) -> Signals:
        """The same decisions as arrays: the crossings, the sizes, the exit levels."""
        fast, slow = int(params["fast"]), int(params["slow"])
        if fast > slow:
            raise ValueError(f"fast ({fast}) must not exceed slow ({slow})")
        prices = tape.price
        above = rolling_sum(prices, fast) * slow > rolling_sum(prices, slow) * fast
        ready = np.arange(len(prices)) >= slow - 1
        return Signals(
            entries=rising(above, slow - 1),
            quantity=quantities_for_value(tape.instrument, prices, params["order_value"]),
            ready=ready,
            take_profit_bps=params["take_profit_bps"],
            stop_loss_bps=params["stop_loss_bps"],
        )
