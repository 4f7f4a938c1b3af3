"""Properties of the paper fill model over random books, orders and market events (hypothesis).

Each run drives a real MarketState and PaperExchange with random level updates, trades, book
clears, submissions (every type and time in force, some off the grid), cancels and waits, and
applies the venue's events to domain Orders as the OMS does (an impossible event fails there).
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from tests.test_paper_fill_model import STOCK, Venue, clear, level, stock, trade

INSTRUMENT = stock(maker="0.00015", taker="0.00025")
PRICES = [69_500 + 100 * step for step in range(11)]
"""On the grid around 70,000 KRW (tick 100)."""
MAKER_RATE = Fraction(INSTRUMENT.maker_fee)
TAKER_RATE = Fraction(INSTRUMENT.taker_fee)

Step = tuple[Any, ...]

book_sides = st.sampled_from([BID, ASK])
price_steps = st.integers(0, len(PRICES) - 1)
level_steps = st.tuples(st.just("level"), book_sides, price_steps, st.integers(0, 30))
trade_steps = st.tuples(st.just("trade"), book_sides, price_steps, st.integers(1, 30))
submit_steps = st.tuples(
    st.just("submit"),
    st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
    st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]),
    st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    price_steps,
    st.sampled_from([0, 0, 0, 0, 50]),  # now and then half a tick off the grid
    st.integers(1, 40),
)
cancel_steps = st.tuples(st.just("cancel"), st.integers(0, 1_000))
"""Mostly one of the open orders (picked by the number); with none open, an unknown id."""
wait_steps = st.tuples(st.just("wait"), st.integers(1, 3))
STEP_KINDS: dict[str, st.SearchStrategy[Step]] = {
    "level": level_steps,
    "trade": trade_steps,
    "submit": submit_steps,
    "cancel": cancel_steps,
    "wait": wait_steps,
    "clear": st.just(("clear",)),
}
WEIGHTS = {"level": 8, "trade": 6, "submit": 4, "cancel": 2, "wait": 2, "clear": 1}
steps = st.lists(
    st.sampled_from([kind for kind, weight in WEIGHTS.items() for _ in range(weight)]).flatmap(
        STEP_KINDS.__getitem__
    ),
    min_size=20,
    max_size=120,
)
opening_books = st.tuples(
    st.lists(st.integers(1, 30), min_size=5, max_size=5),
    st.lists(st.integers(1, 30), min_size=5, max_size=5),
)
"""Sizes of the five bids below 70,000 and the five asks above it that every run starts with."""
latencies = st.sampled_from([0, 1, 3])


class LevelAudit:
    """What the feed offered at each level since it last appeared: its first size plus every
    increase. Paper fills that consume a level (taker fills, crossing fills) may never exceed
    it, or the same displayed size was filled twice."""

    def __init__(self) -> None:
        self.displayed: dict[tuple[int, int], int] = {}
        self.offered: defaultdict[tuple[int, int], int] = defaultdict(int)
        self.taken: defaultdict[tuple[int, int], int] = defaultdict(int)

    def on_level(self, side: int, price: int, size: int) -> None:
        key = (side, price)
        before = self.displayed.pop(key, 0)
        if size == 0:
            self.offered.pop(key, None)
            self.taken.pop(key, None)
            return
        self.displayed[key] = size
        self.offered[key] += max(0, size - before)

    def on_clear(self) -> None:
        self.displayed.clear()
        self.offered.clear()
        self.taken.clear()

    def take(self, side: int, price: int, quantity: int) -> None:
        key = (side, price)
        self.taken[key] += quantity
        assert self.taken[key] <= self.offered[key], (key, self.taken[key], self.offered[key])


def open_venue(opening: tuple[list[int], list[int]], latency: int) -> Venue:
    venue = Venue(INSTRUMENT, latency_ns=latency)
    bid_sizes, ask_sizes = opening
    venue.book(
        bids=dict(zip(PRICES[:5], bid_sizes, strict=True)),
        asks=dict(zip(PRICES[6:], ask_sizes, strict=True)),
    )
    return venue


def check_fill(event: OrderFilled, order: Order) -> None:
    """Exact fee, a price on the grid, never worse than the limit."""
    rate = MAKER_RATE if event.liquidity == "maker" else TAKER_RATE
    assert event.fee_raw == math.ceil(event.price_raw * event.quantity_raw * rate)
    assert INSTRUMENT.tick_table.is_on_grid(event.price_raw)
    assert event.quantity_raw > 0
    if order.order_type is OrderType.LIMIT:
        if order.side is OrderSide.BUY:
            assert event.price_raw <= order.price_raw
        else:
            assert event.price_raw >= order.price_raw


def submit(venue: Venue, step: Step) -> None:
    _, side, order_type, tif, price_step, off_grid, quantity = step
    price = PRICES[price_step] + off_grid if order_type is OrderType.LIMIT else 0
    order = venue.submit(side, quantity, price, tif=tif)
    if order_type is OrderType.MARKET:
        assert order.price_raw == 0


def cancel(venue: Venue, pick: int) -> None:
    open_ids = sorted(order.client_order_id for order in venue.orders.values() if order.is_open)
    venue.cancel(open_ids[pick % len(open_ids)] if open_ids else f"x{pick}")


def check_final_state(venue: Venue) -> None:
    """After everything due has happened: conservation, and the exchange agrees with the orders."""
    venue.pump(venue.now + 10)
    open_ids = venue.exchange.open_order_ids()
    filled: defaultdict[str, int] = defaultdict(int)
    for event in venue.log:
        if isinstance(event, OrderFilled):
            filled[event.client_order_id] += event.quantity_raw
    for order in venue.orders.values():
        assert filled[order.client_order_id] == order.filled_raw <= order.quantity_raw
        assert (order.client_order_id in open_ids) == order.is_open
        assert order.status is not OrderStatus.SUBMITTED
        if order.status is OrderStatus.FILLED:
            assert order.filled_raw == order.quantity_raw
        if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            assert order.filled_raw < order.quantity_raw
        if order.status is OrderStatus.REJECTED:
            assert order.filled_raw == 0
        if order.order_type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC:
            assert not order.is_open
        if order.time_in_force is TimeInForce.FOK:
            assert order.filled_raw in (0, order.quantity_raw)
        if order.price_raw % 100:
            assert order.status is OrderStatus.REJECTED
    # What the exchange holds for each open order is exactly what the order still has open:
    # a trade through every price fills each one by exactly its leaves.
    venue.now += 1
    venue.feed(trade(ASK, PRICES[0] - 100, 10_000), trade(BID, PRICES[-1] + 100, 10_000))
    for order in venue.orders.values():
        assert order.status in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.REJECTED,
        )
    assert venue.exchange.open_order_ids() == set()


@settings(max_examples=300)
@given(opening_books, steps, latencies)
def test_fills_respect_liquidity_fees_prices_and_quantities(
    opening: tuple[list[int], list[int]], steps: list[Step], latency: int
) -> None:
    """One market event per batch, so every fill can be traced to what caused it."""
    venue = open_venue(opening, latency)
    audit = LevelAudit()
    book = venue.market.at(venue.index[STOCK])
    for side, levels in ((BID, book.bids), (ASK, book.asks)):
        for price, size in levels.items():
            audit.on_level(side, price, size)
    for step in steps:
        venue.now += 1
        kind = step[0]
        events: list[AnyOrderEvent] = []
        if kind == "level":
            _, side, price_step, size = step
            audit.on_level(side, PRICES[price_step], size)
            events = venue.feed(level(side, PRICES[price_step], size))
            for event in events:
                if isinstance(event, OrderFilled):  # a crossing level consumed
                    order = venue.orders[event.client_order_id]
                    assert event.liquidity == "maker"
                    assert (order.side is OrderSide.BUY) == (side == ASK)
                    audit.take(side, PRICES[price_step], event.quantity_raw)
        elif kind == "trade":
            _, aggressor, price_step, size = step
            events = venue.feed(trade(aggressor, PRICES[price_step], size))
            traded = [event for event in events if isinstance(event, OrderFilled)]
            assert sum(event.quantity_raw for event in traded) <= size
            for event in traded:
                order = venue.orders[event.client_order_id]
                assert event.liquidity == "maker"
                assert (order.side is OrderSide.BUY) == (aggressor == ASK)
        elif kind == "clear":
            audit.on_clear()
            events = venue.feed(clear())
            assert not any(isinstance(event, OrderFilled) for event in events)
        elif kind == "submit":
            submit(venue, step)
        elif kind == "cancel":
            cancel(venue, step[1])
        else:
            venue.now += step[1]
        arrivals = venue.pump()
        for event in arrivals:
            if isinstance(event, OrderFilled):  # taking liquidity on arrival
                order = venue.orders[event.client_order_id]
                assert event.liquidity == "taker"
                audit.take(
                    ASK if order.side is OrderSide.BUY else BID,
                    event.price_raw,
                    event.quantity_raw,
                )
        for event in events + arrivals:
            if isinstance(event, OrderFilled):
                check_fill(event, venue.orders[event.client_order_id])
    check_final_state(venue)


def run_batched(opening: tuple[list[int], list[int]], steps: list[Step], latency: int) -> Venue:
    """Consecutive market events go in one batch (one ns apart), as a live feed delivers them."""
    venue = open_venue(opening, latency)
    batch = MarketBatch()
    index = venue.index[STOCK]

    def flush() -> None:
        if len(batch):
            venue.feed_batch(batch)
            batch.clear()
        venue.pump()

    for step in steps:
        venue.now += 1
        kind = step[0]
        if kind in ("level", "trade"):
            _, side, price_step, size = step
            event_kind = BOOK_LEVEL if kind == "level" else TRADE
            batch.append(event_kind, index, side, PRICES[price_step], size, venue.now)
            continue
        if kind == "clear":
            batch.append(BOOK_CLEAR, index, 0, 0, 0, venue.now)
            continue
        flush()
        if kind == "submit":
            submit(venue, step)
        elif kind == "cancel":
            cancel(venue, step[1])
        else:
            venue.now += step[1]
        venue.pump()
    flush()
    return venue


@settings(max_examples=300)
@given(opening_books, steps, latencies)
def test_batched_runs_conserve_quantities_and_are_deterministic(
    opening: tuple[list[int], list[int]], steps: list[Step], latency: int
) -> None:
    venue = run_batched(opening, steps, latency)
    for event in venue.log:
        if isinstance(event, OrderFilled):
            check_fill(event, venue.orders[event.client_order_id])
    # A cancel inside a batch takes effect before the events at or after its time.
    cancelled_at = {
        event.client_order_id: event.ts for event in venue.log if isinstance(event, OrderCanceled)
    }
    for event in venue.log:
        if isinstance(event, OrderFilled) and event.client_order_id in cancelled_at:
            assert event.ts <= cancelled_at[event.client_order_id]
    assert all(event.reason for event in venue.log if isinstance(event, OrderRejected))
    assert run_batched(opening, steps, latency).log == venue.log
    check_final_state(venue)
