"""A strategy whose orders depend on everything it reads of the market state at every trade
(for the hot-loop test: a loop that shows a strategy a stale field trades differently)."""

from __future__ import annotations

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy


class MarketReader(Strategy):
    """Folds the instrument's state (books, best prices, counters, times, trade ring) into a
    digest at every trade; every ``every`` trades, buys for 100,000 to 700,000 (quote currency)
    as the digest says, or closes the position."""

    every = Param(400, low=10, high=100_000, step=10, doc="trades between orders")

    def on_start(self) -> None:
        self.digest = 0
        self.seen = 0
        self.busy = False

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        ctx = self.ctx
        state = ctx.state(i)
        self.digest = hash(
            (
                self.digest, price, size, side, ts,
                state.best_bid, state.best_ask, ctx.best_bid(i), ctx.best_ask(i),
                state.book_seq, state.ts_event, state.ts_recv, state.trade_count,
                state.volume, state.turnover, state.last_price, state.last_trade_ns,
                tuple(ctx.top_bids(i, 3)), tuple(ctx.top_asks(i, 3)),
                len(state.bids), len(state.asks),
                state.ring_price[(state.trade_count - 1) % len(state.ring_price)],
            )
        )  # fmt: skip
        self.seen += 1
        if self.seen % self.every or self.busy:
            return
        if ctx.position(i) > 0:
            self.busy = ctx.close_position(i) is not None
            return
        # 1 to 7 times 100,000 in the quote currency, by the digest.
        value = 100_000 * (1 + self.digest % 7) / (price / 10 ** ctx.instrument(i).price_precision)
        quantity = ctx.size_raw(i, value)
        if quantity > 0:
            self.busy = ctx.buy(i, quantity) is not None

    def on_order(self, order: Order) -> None:
        if not order.is_open:
            self.busy = False
