"""The market simulator: deterministic, valid on the venue's rules, and market-like."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics
from collections.abc import Sequence

import pytest

from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.sim.sim_book import FLOOR_LEVELS

SECOND = 1_000_000_000
MONDAY_0900_KST = 1_704_153_600 * SECOND
"""2024-01-02 00:00 UTC: the KRX session opens."""
TEST_INSTRUMENT = dataclasses.replace(
    sim_instrument("KRW-BTC"), id=InstrumentId("NOT-LISTED.SIM"), name="Not listed"
)
DEFAULT_SIX = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "005930", "000660", "035720"]
EVERY_SYMBOL = [*DEFAULT_SIX, "KRW-SOL", "KRW-DOGE", "KRW-ANKR", "005380"]


def make_sim(
    symbols: Sequence[str],
    *,
    seed: int = 7,
    rate: float = 1000.0,
    book_depth: int = 20,
    start_ns: int = MONDAY_0900_KST,
    indexes: Sequence[int] | None = None,
) -> MarketSimulator:
    instruments = [sim_instrument(symbol) for symbol in symbols]
    return MarketSimulator(
        instruments,
        list(indexes) if indexes is not None else list(range(len(instruments))),
        seed=seed,
        rate=rate,
        book_depth=book_depth,
        start_ns=start_ns,
    )


def columns(batch: MarketBatch) -> tuple[list[int], ...]:
    return (batch.kind, batch.instrument, batch.side, batch.price, batch.size, batch.ts_event)


class ReplayBook:
    """The plainest possible book: dicts of price -> size, checked after every event."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def apply(self, kind: int, side: int, price: int, size: int) -> None:
        lot = self.instrument.lot_size_raw
        if kind == BOOK_CLEAR:
            self.bids.clear()
            self.asks.clear()
            return
        assert self.instrument.tick_table.is_on_grid(price), (self.instrument.id, price)
        assert size >= 0
        assert size % lot == 0
        if kind == TRADE:
            assert size > 0
            # The aggressor takes the best price of the other side, which must hold that much.
            resting = self.asks if side == BID else self.bids
            best = min(resting) if side == BID else max(resting)
            assert price == best, (self.instrument.id, side, price, best)
            assert resting[price] >= size
            return
        assert kind == BOOK_LEVEL
        levels = self.bids if side == BID else self.asks
        if size:
            levels[price] = size
        else:
            assert price in levels, "removing a level that is not there"
            del levels[price]

    def sorted_levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


def replay(
    sim: MarketSimulator, symbols: Sequence[str], seconds: float, chunk_s: float = 0.25
) -> tuple[list[ReplayBook], dict[str, int]]:
    """Snapshot then step; check every event; return the replayed books and counters."""
    instruments = [sim_instrument(symbol) for symbol in symbols]
    books = [ReplayBook(instrument) for instrument in instruments]
    counters = {"events": 0, "below_depth": 0, "gaps": 0, "adjacent": 0, "trades": 0}
    batch = MarketBatch()
    sim.snapshot(batch)
    for kind, position, side, price, size, _ts in zip(*columns(batch), strict=True):
        books[position].apply(kind, side, price, size)
    for book in books:
        assert len(book.bids) >= FLOOR_LEVELS
        assert len(book.asks) >= FLOOR_LEVELS
        assert max(book.bids) < min(book.asks)
    last_ts = sim.now_ns
    steps = int(seconds / chunk_s)
    for step in range(1, steps + 1):
        until = MONDAY_0900_KST + int(step * chunk_s * SECOND)
        batch.clear()
        sim.step(until, batch)
        for kind, position, side, price, size, ts in zip(*columns(batch), strict=True):
            assert last_ts <= ts <= until
            last_ts = ts
            book = books[position]
            book.apply(kind, side, price, size)
            bids, asks = book.bids, book.asks
            assert max(bids) < min(asks), "crossed book"
            assert len(bids) >= FLOOR_LEVELS
            assert len(asks) >= FLOOR_LEVELS
            counters["events"] += 1
            counters["trades"] += kind == TRADE
            counters["below_depth"] += min(len(bids), len(asks)) < 20
            if counters["events"] % 97 == 0:
                count_gaps(book, counters)
    return books, counters


def count_gaps(book: ReplayBook, counters: dict[str, int]) -> None:
    """How many neighbouring levels are exactly one tick apart, and how many are further."""
    table = book.instrument.tick_table
    bids, asks = book.sorted_levels()
    for levels, step in ((bids, table.step_down), (asks, table.step_up)):
        for (price, _), (next_price, _) in itertools.pairwise(levels):
            if step(price) == next_price:
                counters["adjacent"] += 1
            else:
                counters["gaps"] += 1


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_events_however_step_is_chunked() -> None:
    horizon = MONDAY_0900_KST + 20 * SECOND
    whole = MarketBatch()
    make_sim(DEFAULT_SIX).step(horizon, whole)
    assert len(whole) > 15_000

    chunked = MarketBatch()
    sim = make_sim(DEFAULT_SIX)
    chooser = random.Random(1)
    until = MONDAY_0900_KST
    while until < horizon:
        # Tiny, repeated, backwards and large steps alike.
        until = min(horizon, until + chooser.choice([0, 1, 137, 50_000, 3_000_000, SECOND]))
        sim.step(until - chooser.choice([0, 0, 5]), chunked)
    sim.step(horizon, chunked)
    assert columns(chunked) == columns(whole)

    other = MarketBatch()
    make_sim(DEFAULT_SIX, seed=8).step(horizon, other)
    assert other.price[:1000] != whole.price[:1000]


def test_until_is_inclusive_to_the_nanosecond() -> None:
    whole = MarketBatch()
    make_sim(DEFAULT_SIX).step(MONDAY_0900_KST + 2 * SECOND, whole)
    sim = make_sim(DEFAULT_SIX)
    batch = MarketBatch()
    for ts in sorted(set(whole.ts_event))[::50]:
        sim.step(ts - 1, batch)
        assert len(batch) == sum(1 for other in whole.ts_event if other < ts)
        sim.step(ts, batch)
        assert len(batch) == sum(1 for other in whole.ts_event if other <= ts)
    assert columns(batch) == tuple(column[: len(batch)] for column in columns(whole))


def test_timestamps_are_relative_to_start() -> None:
    one, two = MarketBatch(), MarketBatch()
    make_sim(["KRW-BTC"], start_ns=MONDAY_0900_KST).step(MONDAY_0900_KST + SECOND, one)
    make_sim(["KRW-BTC"], start_ns=MONDAY_0900_KST + 5).step(MONDAY_0900_KST + 5 + SECOND, two)
    assert one.kind == two.kind
    assert one.price == two.price
    assert [ts + 5 for ts in one.ts_event] == two.ts_event


def test_step_emits_only_events_up_to_until_and_counts_them() -> None:
    sim = make_sim(DEFAULT_SIX)
    batch = MarketBatch()
    first = sim.step(MONDAY_0900_KST + SECOND // 2, batch)
    assert first == len(batch) > 0
    assert max(batch.ts_event) <= MONDAY_0900_KST + SECOND // 2
    second = sim.step(MONDAY_0900_KST + SECOND, batch)
    assert first + second == len(batch)
    assert min(batch.ts_event[first:]) > MONDAY_0900_KST + SECOND // 2
    assert sim.step(MONDAY_0900_KST + SECOND, batch) == 0
    assert sim.now_ns == MONDAY_0900_KST + SECOND


# --- validity ---------------------------------------------------------------------------------


def test_every_event_is_valid_and_the_book_never_crosses() -> None:
    sim = make_sim(EVERY_SYMBOL, rate=3000.0)
    books, counters = replay(sim, EVERY_SYMBOL, seconds=20.0)
    assert counters["events"] > 50_000
    assert counters["trades"] > 5_000
    # Each side holds the configured depth (20) nearly all the time, and never fewer than 10.
    assert counters["below_depth"] < 0.10 * counters["events"]
    # Levels sit on consecutive ticks from the touch outward, with a few holes.
    assert counters["adjacent"] > 0.8 * (counters["adjacent"] + counters["gaps"])
    for position, book in enumerate(books):
        assert book.sorted_levels() == sim.levels(position)


def test_a_snapshot_replays_to_the_simulators_book() -> None:
    sim = make_sim(EVERY_SYMBOL, rate=2000.0)
    sim.step(MONDAY_0900_KST + 7 * SECOND, MarketBatch())
    batch = MarketBatch()
    count = sim.snapshot(batch)
    assert count == len(batch)
    books = [ReplayBook(sim_instrument(symbol)) for symbol in EVERY_SYMBOL]
    assert batch.kind.count(BOOK_CLEAR) == len(EVERY_SYMBOL)
    assert set(batch.kind) == {BOOK_CLEAR, BOOK_LEVEL}
    assert set(batch.ts_event) == {sim.now_ns}
    for kind, position, side, price, size, _ts in zip(*columns(batch), strict=True):
        books[position].apply(kind, side, price, size)
    for position, book in enumerate(books):
        bids, asks = sim.levels(position)
        assert book.sorted_levels() == (bids, asks)
        assert len(bids) >= 20
        assert len(asks) >= 20


def test_engine_indexes_are_written_into_events() -> None:
    sim = make_sim(["KRW-BTC", "005930"], indexes=[7, 3])
    batch = MarketBatch()
    sim.snapshot(batch)
    sim.step(MONDAY_0900_KST + SECOND, batch)
    assert set(batch.instrument) == {7, 3}
    btc_prices = {p for p, i in zip(batch.price, batch.instrument, strict=True) if i == 7 and p}
    assert min(btc_prices) > 50_000_000


@pytest.mark.parametrize("book_depth", [1, 10])
def test_shallow_books_still_keep_ten_levels(book_depth: int) -> None:
    sim = make_sim(["KRW-BTC", "000660"], rate=2000.0, book_depth=book_depth)
    _, counters = replay(sim, ["KRW-BTC", "000660"], seconds=5.0)
    assert counters["events"] > 5_000


def test_prev_close_is_the_start_price_on_the_grid() -> None:
    sim = make_sim(EVERY_SYMBOL)
    expected = [100_000_000, 5_000_000, 3_000, 70_000, 200_000, 40_000, 250_000, 300, 4_000]
    assert [sim.prev_close_raw(i) for i in range(9)] == expected
    for position, symbol in enumerate(EVERY_SYMBOL):
        table = sim_instrument(symbol).tick_table
        assert table.is_on_grid(sim.prev_close_raw(position))


def test_stock_prices_stay_inside_the_daily_limit() -> None:
    sim = make_sim(["000660"], rate=200.0)
    batch = MarketBatch()
    sim.step(MONDAY_0900_KST + 600 * SECOND, batch)
    prices = [price for price in batch.price if price]
    assert min(prices) >= 140_000
    assert max(prices) <= 260_000


def test_bad_arguments_are_refused() -> None:
    btc = sim_instrument("KRW-BTC")
    with pytest.raises(ValueError, match="same length"):
        MarketSimulator([btc], [0, 1], seed=1, rate=10.0, start_ns=0)
    with pytest.raises(ValueError, match="rate"):
        MarketSimulator([btc], [0], seed=1, rate=0.0, start_ns=0)
    with pytest.raises(ValueError, match="book_depth"):
        MarketSimulator([btc], [0], seed=1, rate=10.0, book_depth=0, start_ns=0)
    sim = MarketSimulator([btc], [0], seed=1, rate=10.0, start_ns=0)
    with pytest.raises(ValueError, match="rate"):
        sim.set_rate(float("nan"))
    with pytest.raises(KeyError, match="known symbols: KRW-BTC"):
        MarketSimulator([TEST_INSTRUMENT], [0], seed=1, rate=10.0, start_ns=0)


def test_no_instruments_no_events() -> None:
    sim = MarketSimulator([], [], seed=1, rate=10.0, start_ns=0)
    batch = MarketBatch()
    assert sim.snapshot(batch) == 0
    assert sim.step(10 * SECOND, batch) == 0
    assert sim.now_ns == 10 * SECOND


# --- rate, bursts, volatility -----------------------------------------------------------------


def count_events(sim: MarketSimulator, seconds: float, chunks: int = 20) -> int:
    batch = MarketBatch()
    start = sim.now_ns
    total = 0
    for chunk in range(1, chunks + 1):
        total += sim.step(start + int(seconds * SECOND * chunk / chunks), batch)
        batch.clear()
    return total


@pytest.mark.parametrize(("rate", "seconds"), [(1.0, 20_000.0), (50.0, 2_000.0), (100_000.0, 2.0)])
def test_the_event_rate_is_the_configured_rate(rate: float, seconds: float) -> None:
    sim = make_sim(DEFAULT_SIX, rate=rate)
    measured = count_events(sim, seconds) / seconds
    assert measured == pytest.approx(rate, rel=0.15)


def test_set_rate_changes_the_rate_at_once() -> None:
    sim = make_sim(DEFAULT_SIX, rate=100.0)
    assert count_events(sim, 60.0) / 60.0 == pytest.approx(100.0, rel=0.15)
    sim.set_rate(20_000.0)
    assert sim.rate == 20_000.0
    assert count_events(sim, 2.0) / 2.0 == pytest.approx(20_000.0, rel=0.15)
    sim.set_rate(10.0)
    assert count_events(sim, 600.0) / 600.0 == pytest.approx(10.0, rel=0.15)


def test_trades_come_in_bursts() -> None:
    sim = make_sim(["KRW-BTC"], rate=2000.0)
    batch = MarketBatch()
    seconds = 30
    sim.step(MONDAY_0900_KST + seconds * SECOND, batch)
    windows = [0] * (seconds * 10)
    for kind, ts in zip(batch.kind, batch.ts_event, strict=True):
        if kind == TRADE:
            windows[(ts - MONDAY_0900_KST) // (SECOND // 10)] += 1
    mean = statistics.fmean(windows)
    assert mean > 10
    # A Poisson count has variance equal to its mean; bursts make it far larger.
    assert statistics.pvariance(windows) > 2.0 * mean


def mid_variance(start_ns: int, seed: int, minutes: int = 40) -> float:
    """Sum of squared one-minute log changes of the book's mid price."""
    sim = make_sim(["005930"], seed=seed, rate=30.0, start_ns=start_ns)
    batch = MarketBatch()
    mids = []
    for minute in range(minutes + 1):
        sim.step(start_ns + minute * 60 * SECOND, batch)
        batch.clear()
        bids, asks = sim.levels(0)
        mids.append((bids[0][0] + asks[0][0]) / 2)
    return sum(math.log(b / a) ** 2 for a, b in itertools.pairwise(mids))


def test_a_stock_is_more_volatile_at_the_open_than_at_midday() -> None:
    seeds = range(4)
    opening = sum(mid_variance(MONDAY_0900_KST, seed) for seed in seeds)
    midday = sum(mid_variance(MONDAY_0900_KST + 3 * 3600 * SECOND, seed) for seed in seeds)
    assert opening > 1.5 * midday


def test_trade_sizes_are_heavy_tailed() -> None:
    sim = make_sim(["KRW-ETH"], rate=2000.0)
    batch = MarketBatch()
    sim.step(MONDAY_0900_KST + 20 * SECOND, batch)
    sizes = sorted(s for k, s in zip(batch.kind, batch.size, strict=True) if k == TRADE)
    median = sizes[len(sizes) // 2]
    assert sizes[int(len(sizes) * 0.99)] > 10 * median
    assert len({*sizes}) > len(sizes) // 2  # not a handful of fixed sizes
    assert {ASK, BID} == {s for k, s in zip(batch.kind, batch.side, strict=True) if k == TRADE}


def test_the_touch_follows_the_latent_price() -> None:
    sim = make_sim(["KRW-BTC", "005930"], rate=400.0)
    batch = MarketBatch()
    for minute in range(1, 11):
        sim.step(MONDAY_0900_KST + minute * 60 * SECOND, batch)
        for position in range(2):
            bids, asks = sim.levels(position)
            mid = (bids[0][0] + asks[0][0]) / 2
            assert abs(mid / sim.latent_mid(position) - 1) < 0.003
