"""Matching: paper orders against the engine's books and trades (the rules are in the package doc).

:class:`FillModel` holds the resting paper orders per instrument (:class:`InstrumentOrders`) and
turns activations and market events into :class:`OrderFilled` and :class:`OrderExpired` events.
It knows nothing of latency or order ids; :class:`engine.paper.exchange.PaperExchange` does.

Hot path: :meth:`FillModel.on_batch` looks each event's instrument up in one dict of the
instruments that have resting orders or consumed liquidity, and rejects most of the rest with one
comparison against that instrument's best resting buy and sell prices. Nothing is allocated for
an event that matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.domain.fees import FeeRate, SellTax
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Liquidity,
    OrderExpired,
    OrderFilled,
    TimeInForce,
)
from engine.market_state import MarketState
from engine.paper.liquidity import ConsumedLiquidity, update_level
from engine.paper.queue_position import PaperOrder, advance_queue, cap_queue

NEVER = (1 << 63) - 1
"""A time (ns) after every real one: "nothing is due"."""
NO_BUY = -1
"""``best_buy`` when no buy rests: every trade price is above it."""
NO_SELL = NEVER
"""``best_sell`` when no sell rests: every trade price is below it."""

MARKET_EXHAUSTED = "no more liquidity on the book"
IOC_EXHAUSTED = "immediate or cancel: no more liquidity at the limit price or better"
FOK_LIMIT_SHORT = "fill or kill: not enough liquidity at the limit price or better"
FOK_MARKET_SHORT = "fill or kill: not enough liquidity on the book"


class InstrumentOrders:
    """One instrument's resting paper orders by price (time priority within a price), its best
    resting buy and sell prices, and the liquidity paper fills consumed from its book."""

    __slots__ = (
        "best_buy",
        "best_sell",
        "buys",
        "consumed_asks",
        "consumed_bids",
        "index",
        "liquidity",
        "sells",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.buys: dict[int, list[PaperOrder]] = {}
        self.sells: dict[int, list[PaperOrder]] = {}
        self.best_buy = NO_BUY
        self.best_sell = NO_SELL
        self.liquidity = ConsumedLiquidity()
        # Aliases of the record dicts, one attribute load fewer per event on the hot path.
        self.consumed_bids = self.liquidity.bids
        self.consumed_asks = self.liquidity.asks

    @property
    def is_idle(self) -> bool:
        """Nothing rests and nothing is remembered: market events here can be skipped."""
        return not self.buys and not self.sells and not self.liquidity

    def add(self, order: PaperOrder) -> None:
        price = order.price
        levels = self.buys if order.is_buy else self.sells
        level = levels.get(price)
        if level is not None:
            level.append(order)
            return
        levels[price] = [order]
        if order.is_buy:
            if price > self.best_buy:  # noqa: PLR1730 (a branch beats max() here)
                self.best_buy = price
        elif price < self.best_sell:
            self.best_sell = price

    def discard(self, order: PaperOrder) -> None:
        price = order.price
        levels = self.buys if order.is_buy else self.sells
        level = levels[price]
        level.remove(order)
        if level:
            return
        del levels[price]
        if order.is_buy:
            if price == self.best_buy:
                self.best_buy = max(levels, default=NO_BUY)
        elif price == self.best_sell:
            self.best_sell = min(levels, default=NO_SELL)

    def reaching(self, buys: bool, price: int) -> list[PaperOrder]:
        """Resting buys priced at or above ``price`` (or sells at or below), in price-time
        priority. A new list, so fills may remove orders while the caller walks it."""
        if buys:
            levels = self.buys
            prices = sorted((level for level in levels if level >= price), reverse=True)
        else:
            levels = self.sells
            prices = sorted(level for level in levels if level <= price)
        return [order for level in prices for order in levels[level]]


class FillModel:
    """Matches paper orders; appends the fills and expiries it produces to ``events``."""

    def __init__(self, market: MarketState, events: list[AnyOrderEvent], id_prefix: str) -> None:
        self._market = market
        self._events = events
        self._trade_prefix = f"{id_prefix}T"
        self._trade_count = 0
        self._books: dict[int, InstrumentOrders] = {}
        """Instruments with resting orders or consumed liquidity; no others are looked at."""
        self._fee_rates: dict[int, tuple[FeeRate, FeeRate, SellTax | None, int]] = {}
        """Per instrument index: maker and taker rates, sell tax, notional scale."""
        self.resting: dict[str, PaperOrder] = {}

    @property
    def has_work(self) -> bool:
        return bool(self._books)

    def book_of(self, index: int) -> InstrumentOrders | None:
        """Instrument ``index``'s resting orders and consumed liquidity, if it has any."""
        return self._books.get(index)

    def only_on(self, index: int) -> bool:
        """True when no instrument but ``index`` has resting orders or consumed liquidity."""
        books = self._books
        return not books or (len(books) == 1 and index in books)

    # --- orders ------------------------------------------------------------------------------

    def execute(self, order: PaperOrder, ts: int) -> None:
        """An accepted order: take what is marketable, then expire the rest or let it rest."""
        state = self._market.at(order.index)
        book = self._book(order.index)
        liquidity = book.liquidity
        limit = None if order.is_market else order.price
        if order.is_buy:
            book_side, levels = ASK, state.asks
            prices = sorted(price for price in levels if limit is None or price <= limit)
        else:
            book_side, levels = BID, state.bids
            prices = sorted(
                (price for price in levels if limit is None or price >= limit), reverse=True
            )
        if order.time_in_force is TimeInForce.FOK:
            available = 0
            for price in prices:
                available += liquidity.effective(book_side, price, levels[price])
                if available >= order.leaves:
                    break
            if available < order.leaves:
                self._expire(order, ts, FOK_MARKET_SHORT if limit is None else FOK_LIMIT_SHORT)
                self._release(book)
                return
        for price in prices:
            displayed = levels[price]
            quantity = min(order.leaves, liquidity.effective(book_side, price, displayed))
            if quantity <= 0:
                continue
            liquidity.take(book_side, price, displayed, quantity)
            self._fill(order, price, quantity, "taker", ts)
            if not order.leaves:
                break
        if order.leaves:
            if limit is None:
                self._expire(order, ts, MARKET_EXHAUSTED)
            elif order.time_in_force is not TimeInForce.GTC:
                self._expire(order, ts, IOC_EXHAUSTED)
            else:
                self._rest(order, book)
        self._release(book)

    def restore(self, order: PaperOrder, ts: int) -> None:
        """A limit order back after a restart: it rests at once. Levels of the current book that
        cross it fill it first as maker, as if they had arrived while it rested."""
        state = self._market.at(order.index)
        book = self._book(order.index)
        book_side, levels = (ASK, state.asks) if order.is_buy else (BID, state.bids)
        for price in sorted(levels, reverse=not order.is_buy):
            if (price > order.price) if order.is_buy else (price < order.price):
                break
            displayed = levels[price]
            quantity = min(order.leaves, book.liquidity.effective(book_side, price, displayed))
            if quantity > 0:
                book.liquidity.take(book_side, price, displayed, quantity)
                self._fill(order, order.price, quantity, "maker", ts)
                if not order.leaves:
                    break
        if order.leaves:
            self._rest(order, book)
        self._release(book)

    def cancel(self, client_order_id: str) -> PaperOrder | None:
        """Take a resting order off the book; None when it does not rest (any more)."""
        order = self.resting.pop(client_order_id, None)
        if order is not None:
            book = self._books[order.index]
            book.discard(order)
            self._release(book)
        return order

    # --- market events -----------------------------------------------------------------------

    def on_batch(self, batch: MarketBatch, due_ns: int, on_due: Callable[[int], int]) -> None:
        """Process ``batch`` (already applied to the market state) in order.

        Before the first event at or after ``due_ns``, ``on_due(ts)`` runs what the exchange has
        due by then and returns the next such time.
        """
        books = self._books
        get = books.get
        for kind, index, side, price, size, ts in zip(
            batch.kind,
            batch.instrument,
            batch.side,
            batch.price,
            batch.size,
            batch.ts_event,
            strict=True,
        ):
            if ts >= due_ns:
                due_ns = on_due(ts)
            book = get(index)
            if book is None:
                continue
            if kind == BOOK_LEVEL:
                if side == BID:
                    if price in book.buys:
                        cap_queue(book.buys[price], size)
                    if price in book.consumed_bids:
                        update_level(book.consumed_bids, price, size)
                        if book.is_idle:
                            del books[index]
                            continue
                    if size and price >= book.best_sell:
                        self._cross(book, BID, price, size, ts)
                else:
                    if price in book.sells:
                        cap_queue(book.sells[price], size)
                    if price in book.consumed_asks:
                        update_level(book.consumed_asks, price, size)
                        if book.is_idle:
                            del books[index]
                            continue
                    if size and price <= book.best_buy:
                        self._cross(book, ASK, price, size, ts)
            elif kind == TRADE:
                if side == ASK:
                    if price <= book.best_buy:
                        self._trade(book, ASK, price, size, ts)
                elif price >= book.best_sell:
                    self._trade(book, BID, price, size, ts)
            elif kind == BOOK_CLEAR:
                book.liquidity.clear()
                self._release(book)

    def _cross(
        self, book: InstrumentOrders, book_side: int, price: int, size: int, ts: int
    ) -> None:
        """A level on ``book_side`` now shows ``size`` at a price resting orders of the other
        side reach: they fill against its effective size as maker, at their limit price."""
        liquidity = book.liquidity
        available = liquidity.effective(book_side, price, size)
        if available <= 0:
            return
        for order in book.reaching(book_side == ASK, price):
            quantity = min(order.leaves, available)
            liquidity.take(book_side, price, size, quantity)
            self._fill(order, order.price, quantity, "maker", ts)
            if not order.leaves:
                self._close(book, order)
            available -= quantity
            if not available:
                break
        self._release(book)

    def _trade(
        self, book: InstrumentOrders, aggressor: int, price: int, size: int, ts: int
    ) -> None:
        """A trade at a price resting orders of the other side reach. At their price it works
        through the queue ahead first; beyond their price the level was swept. One trade fills
        paper orders, in price-time priority, with at most its own size in total."""
        given = 0
        for order in book.reaching(aggressor == ASK, price):
            if order.price == price:
                reached = advance_queue(order, size) - given
            else:
                order.queue_ahead = 0
                reached = size - given
            if reached > 0:
                quantity = min(order.leaves, reached)
                self._fill(order, order.price, quantity, "maker", ts)
                given += quantity
                if not order.leaves:
                    self._close(book, order)
        self._release(book)

    # --- helpers -----------------------------------------------------------------------------

    def _rest(self, order: PaperOrder, book: InstrumentOrders) -> None:
        state = self._market.at(order.index)
        own_side = state.bids if order.is_buy else state.asks
        order.queue_ahead = own_side.get(order.price, 0)
        book.add(order)
        self.resting[order.client_order_id] = order

    def _close(self, book: InstrumentOrders, order: PaperOrder) -> None:
        book.discard(order)
        del self.resting[order.client_order_id]

    def _book(self, index: int) -> InstrumentOrders:
        book = self._books.get(index)
        if book is None:
            book = self._books[index] = InstrumentOrders(index)
        return book

    def _release(self, book: InstrumentOrders) -> None:
        if book.is_idle:
            self._books.pop(book.index, None)

    def _fill(
        self, order: PaperOrder, price: int, quantity: int, liquidity: Liquidity, ts: int
    ) -> None:
        rates = self._fee_rates.get(order.index)
        if rates is None:
            instrument = self._market.at(order.index).instrument
            rates = (
                FeeRate(instrument.maker_fee),
                FeeRate(instrument.taker_fee),
                instrument.sell_tax,
                instrument.price_precision + instrument.size_precision,
            )
            self._fee_rates[order.index] = rates
        rate = rates[0] if liquidity == "maker" else rates[1]
        fee = rate.fee_raw(price * quantity)
        tax = rates[2]
        if tax is not None and not order.is_buy:
            # KRX's transaction tax on a sale's proceeds, withheld with the commission (as the
            # broker reports it: Kiwoom's fee and tax in one fill), so paper and backtest
            # results on Korean stocks are not optimistic.
            fee += tax.tax_raw(price * quantity, ts, rates[3])
        order.leaves -= quantity
        self._trade_count += 1
        self._events.append(
            OrderFilled(
                ts=ts,
                client_order_id=order.client_order_id,
                trade_id=f"{self._trade_prefix}{self._trade_count}",
                price_raw=price,
                quantity_raw=quantity,
                fee_raw=fee,
                liquidity=liquidity,
            )
        )

    def _expire(self, order: PaperOrder, ts: int, reason: str) -> None:
        self._events.append(
            OrderExpired(ts=ts, client_order_id=order.client_order_id, reason=reason)
        )
