"""A one-instrument day that gives a paper exchange every kind of event to react to, for the
backtest's hot loop tests (tests/test_hot_loop.py): a five-level book whose spread opens and
closes by several ticks (bids and offers improving into the spread, onto resting orders, without
a trade), levels emptied and refilled (liquidity consumed by a paper order comes back), trades at
both sides, and now and then a ``BOOK_CLEAR`` and a fresh book, in the same batch or the next (a
resync).
Deterministic for a seed; the book is never crossed."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import TickWriter, day_start_ns

TICK = 1_000
"""KRW-BTC's tick above 2 M KRW (price precision 0)."""
LEVELS = 5


def write_choppy_book(root: Path, *, steps: int, seed: int) -> None:
    rng = random.Random(seed)
    writer = TickWriter(root, sim_instrument("KRW-BTC"), 0, session=1)
    now = day_start_ns(date(2026, 1, 5)) + 1_000_000_000
    bid, ask = 100_000, 100_002  # in ticks
    book: dict[tuple[int, int], int] = {}

    def level(side: int, price: int, size: int) -> None:
        if size:
            book[(side, price)] = size
        else:
            book.pop((side, price), None)
        writer.append(BOOK_LEVEL, side, price * TICK, size, now, now)

    def fill_book() -> None:
        for depth in range(LEVELS):
            level(BID, bid - depth, rng.randint(5_000_000, 60_000_000))
            level(ASK, ask + depth, rng.randint(5_000_000, 60_000_000))

    fill_book()
    for _ in range(steps):
        now += rng.randint(1_000_000, 60_000_000)
        draw = rng.random()
        if draw < 0.01:
            # A resync: the book cleared, sent again in the same batch or in the next one.
            writer.append(BOOK_CLEAR, 0, 0, 0, now, now)
            book.clear()
            if rng.random() < 0.5:
                now += rng.randint(1_000_000, 60_000_000)
            fill_book()
        elif draw < 0.25:
            # The spread moves: one side steps by one to three ticks (never crossing).
            if rng.random() < 0.5:
                new = max(bid - 3, min(ask - 1, bid + rng.randint(-3, 3)))
                if new != bid:
                    level(BID, bid, 0)
                    bid = new
                    level(BID, bid, rng.randint(5_000_000, 60_000_000))
            else:
                new = min(ask + 3, max(bid + 1, ask + rng.randint(-3, 3)))
                if new != ask:
                    level(ASK, ask, 0)
                    ask = new
                    level(ASK, ask, rng.randint(5_000_000, 60_000_000))
        elif draw < 0.55:
            # A level's size changes, emptied now and then (refilled later by another change).
            # Mostly at the touch, where paper orders take from.
            side = rng.choice((BID, ASK))
            depth = 0 if rng.random() < 0.6 else rng.randint(1, LEVELS - 1)
            price = bid - depth if side == BID else ask + depth
            size = 0 if rng.random() < 0.15 and depth else rng.randint(1_000_000, 60_000_000)
            level(side, price, size)
        else:
            # A trade at the touch, the level shrinking after it (most of the time).
            aggressor = rng.choice((BID, ASK))
            price = ask if aggressor == BID else bid
            size = rng.randint(100_000, 40_000_000)
            writer.append(TRADE, aggressor, price * TICK, size, now, now)
            side = ASK if aggressor == BID else BID
            left = book.get((side, price), 0) - size
            if left > 0 and rng.random() < 0.8:
                level(side, price, left)
    writer.close()
