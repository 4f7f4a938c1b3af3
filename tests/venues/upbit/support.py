"""Helpers for the Upbit adapter tests: a server fixture's settings, a book model, orders."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from engine.domain.fixed_point import to_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import BID, BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.domain.orders import Order, OrderSide, OrderSubmitted, OrderType, TimeInForce
from engine.venues.base import FeedSink
from engine.venues.upbit.feed import UpbitFeed
from tests.support.trading_desk import cancel_all

ACCESS_KEY = "test-access-key-7f3a9c"
SECRET_KEY = "test-secret-key-do-not-leak-5be1d2c48a9f0e7d6c3b"
SYMBOLS = ["KRW-BTC", "KRW-XRP"]
_ids = itertools.count(1)


@contextlib.asynccontextmanager
async def running(feed: UpbitFeed, sink: FeedSink) -> AsyncIterator[asyncio.Task[None]]:
    """``feed`` streaming :data:`SYMBOLS` into ``sink`` for the block."""
    task = asyncio.create_task(feed.run(SYMBOLS, sink))
    try:
        yield task
    finally:
        await cancel_all([task])


class BookModel:
    """The engine's view of each book, rebuilt from normalized events (raw units)."""

    def __init__(self) -> None:
        self.books: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
        self.trades: list[tuple[int, int, int, int, int]] = []

    def apply(self, batch: MarketBatch) -> None:
        for kind, index, side, price, size, ts in zip(
            batch.kind, batch.instrument, batch.side, batch.price, batch.size, batch.ts_event,
            strict=True,
        ):  # fmt: skip
            bids, asks = self.books.setdefault(index, ({}, {}))
            if kind == BOOK_CLEAR:
                bids.clear()
                asks.clear()
            elif kind == BOOK_LEVEL:
                levels = bids if side == BID else asks
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
            else:
                self.trades.append((index, side, price, size, ts))

    def top(
        self, index: int, depth: int = 30
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self.books.get(index, ({}, {}))
        return (
            sorted(bids.items(), reverse=True)[:depth],
            sorted(asks.items())[:depth],
        )


def raw_book(
    book: tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]],
    instrument: Instrument,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """A loopback ``published_book`` in the adapter's raw units."""
    return tuple(  # type: ignore[return-value]
        [
            (to_raw(price, instrument.price_precision), to_raw(size, instrument.size_precision))
            for price, size in side
        ]
        for side in book
    )


class RecordingSink(FeedSink):
    """A sink that notes, at every wake, what the feed's health said and how far the batch was."""

    def __init__(self, index_of: Callable[[str], int], health_of: Callable[[], object]) -> None:
        super().__init__(index_of, lambda: None)
        self._health_of = health_of
        self.wakes: list[tuple[int, int, frozenset[str]]] = []

    def wake(self) -> None:
        health = self._health_of()
        self.wakes.append((len(self.batch), health.gaps, frozenset(health.resyncing)))  # type: ignore[attr-defined]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


def order(
    instrument: Instrument,
    side: OrderSide,
    quantity: str,
    price: str | int | None = None,
    *,
    tif: TimeInForce = TimeInForce.GTC,
) -> Order:
    """A submitted order in raw units (``price`` None: a market order)."""
    return Order(
        OrderSubmitted(
            ts=time.time_ns(),
            client_order_id=f"T{time.time_ns() % 10**9}-{next(_ids)}",
            instrument_id=str(instrument.id),
            side=side,
            order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
            time_in_force=tif,
            quantity_raw=to_raw(quantity, instrument.size_precision),
            price_raw=0 if price is None else to_raw(str(price), instrument.price_precision),
        )
    )
