"""Two moving averages of trade prices, long only, with take-profit and stop-loss (the benchmark's
strategy and a test fixture; the averages are exact integer sums over one ring buffer)."""

from __future__ import annotations

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy, StrategyFill


class _Book:
    """One instrument's running state: the last ``slow`` prices and the two window sums."""

    __slots__ = ("above", "busy", "entry", "fast_sum", "prices", "seen", "slow_sum")

    def __init__(self, slow: int) -> None:
        self.prices = [0] * slow
        self.seen = 0
        self.fast_sum = 0
        self.slow_sum = 0
        self.above = False
        self.busy = False
        """An order is working: nothing new until it ends."""
        self.entry = 0


class TwoMovingAverages(Strategy):
    """Buy when the fast average of trade prices crosses above the slow one; sell at the
    take-profit or stop-loss (basis points from the entry price)."""

    fast = Param(20, low=2, high=200, step=2, doc="trades in the fast average")
    slow = Param(100, low=10, high=2000, step=10, doc="trades in the slow average")
    take_profit_bp = Param(20, low=1, high=500, step=1, doc="take-profit, basis points")
    stop_loss_bp = Param(20, low=1, high=500, step=1, doc="stop-loss, basis points")
    notional = Param(1_000_000.0, low=10_000.0, high=50_000_000.0, doc="order value, quote")

    def on_start(self) -> None:
        self.books: dict[int, _Book] = {}

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        book = self.books.get(i)
        if book is None:
            book = self.books[i] = _Book(self.slow)
        slow, fast = self.slow, self.fast
        prices, seen = book.prices, book.seen
        book.slow_sum += price - prices[seen % slow]
        book.fast_sum += price - prices[(seen - fast) % slow] if seen >= fast else price
        prices[seen % slow] = price
        seen = book.seen = seen + 1
        if seen < slow or book.busy:
            return
        ctx = self.ctx
        if ctx.position(i) > 0:
            entry = book.entry * 10_000
            scaled = price * 10_000
            if scaled >= entry + book.entry * self.take_profit_bp or (
                scaled <= entry - book.entry * self.stop_loss_bp
            ):
                book.busy = True
                ctx.close_position(i)
            return
        above = book.fast_sum * slow > book.slow_sum * fast
        if above and not book.above:
            quantity = ctx.size_raw(i, self._quantity(i, price))
            if quantity > 0:
                book.busy = True
                ctx.buy(i, quantity)
        book.above = above

    def _quantity(self, i: int, price: int) -> float:
        instrument = self.ctx.instrument(i)
        return self.notional / (price / 10**instrument.price_precision)

    def on_fill(self, fill: StrategyFill) -> None:
        if fill.side == "buy":
            self.books[fill.i].entry = fill.price

    def on_order(self, order: Order) -> None:
        if not order.is_open:
            self.books[self.ctx.index_of(order.instrument_id)].busy = False
