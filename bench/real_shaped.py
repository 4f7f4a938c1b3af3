"""A tick dataset shaped the way real feeds are, for the backtest benches.

Real feeds (Upbit's trade and orderbook streams, KRX's) deliver every trade as its own message
and the quote as separate book messages between trades, so a recording holds one trade per
``ts_init`` and one or a few book-level events per quote change, each change its own batch.
:func:`write_real_shaped` writes that shape for ``KRW-BTC.SIM``:

- trades at about 25 per second (gaps of 1 ms + an exponential of mean 39 ms), so one UTC day
  holds up to about 2.1 M trades;
- before each trade, with probability 0.3, the quote moves one tick (a batch of four book-level
  events: the old bid and ask removed, the new ones set), otherwise with probability 0.35 one
  top-of-book size changes (one event); the trade is then printed at the bid or the ask;
- a one-level book with sizes of 0.5 to 3 BTC (a 1 M KRW order never walks past it);
- deterministic for a seed (each day seeded by ``seed`` and its number), written with
  :class:`~engine.storage.tick_store.TickWriter` in parts of ``ROWS_PER_PART`` rows, as the
  recorder does, a chunk of trades at a time (generating it needs little memory).

``bench/bench_backtest.py`` keeps its batched dataset (the simulator, 5 ms batches) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import ROWS_PER_PART, SCHEMA, TickWriter, day_start_ns

SYMBOL = "KRW-BTC"
TICK = 1_000
"""KRW-BTC's tick above 2 M KRW (price precision 0)."""
START_PRICE = 100_000_000
SATOSHI = 100_000_000
"""Raw size units per BTC (size precision 8)."""
CHUNK_TRADES = 100_000
"""Trades generated at a time."""
SLOTS = 5
"""Rows reserved per trade: up to four book-level events and the trade."""


@dataclass(frozen=True, slots=True)
class RealShapedReport:
    """What :func:`write_real_shaped` wrote."""

    root: Path
    instrument_id: str
    trades: int
    events: int
    batches: int
    days: int


def write_real_shaped(
    root: Path, *, trades_per_day: int, days: int = 1, seed: int = 7, first_day: date | None = None
) -> RealShapedReport:
    """Write ``days`` days of ``trades_per_day`` trades each (see the module docstring)."""
    if not 1 <= trades_per_day <= 2_100_000:
        raise ValueError("trades_per_day must be between 1 and 2,100,000 (one UTC day at 25/s)")
    instrument = sim_instrument(SYMBOL)
    first = first_day or date(2026, 1, 5)
    events = batches = 0
    for number in range(days):
        day = first + timedelta(days=number)
        start = day_start_ns(day) + 1_000_000_000
        writer = TickWriter(Path(root), instrument, 0, session=start)
        rng = np.random.default_rng(seed * 1_000_003 + number)
        bid = START_PRICE // TICK - 1  # in ticks; the ask is one tick above
        init = _initial_book(start, bid)
        _write(writer, init)
        events, batches = events + init.height, batches + 1
        now = start + 1_000_000
        left = trades_per_day
        while left:
            count = min(CHUNK_TRADES, left)
            frame, bid, now = _chunk(rng, count, bid, now)
            _write(writer, frame)
            events += frame.height
            batches += int(frame["ts_init"].n_unique())
            left -= count
        writer.close()
    return RealShapedReport(
        Path(root), str(instrument.id), trades_per_day * days, events, batches, days
    )


def _initial_book(ts: int, bid: int) -> pl.DataFrame:
    return _frame(
        np.array([ts, ts]),
        np.array([BOOK_LEVEL, BOOK_LEVEL]),
        np.array([BID, ASK]),
        np.array([bid * TICK, (bid + 1) * TICK]),
        np.array([SATOSHI, SATOSHI]),
    )


def _chunk(
    rng: np.random.Generator, count: int, bid: int, now: int
) -> tuple[pl.DataFrame, int, int]:
    """``count`` trades and the book events before each; returns them, the last bid, the time
    after the last trade."""
    gaps = 1_000_000 + rng.exponential(39_000_000, count).astype(np.int64)
    times = now + np.cumsum(gaps)
    quote_times = times - gaps // 2
    draw = rng.random(count)
    moves = np.where(draw < 0.15, -1, np.where(draw < 0.3, 1, 0))
    resized = (moves == 0) & (rng.random(count) < 0.5)
    bids = bid + np.cumsum(moves)
    previous = np.concatenate(([bid], bids[:-1]))
    level_sizes = rng.integers(SATOSHI // 2, 3 * SATOSHI, (count, 2))
    aggressor = rng.integers(0, 2, count)
    trade_sizes = rng.integers(10_000, 2_000_000, count)

    kind = np.full((count, SLOTS), BOOK_LEVEL, dtype=np.int64)
    side = np.zeros((count, SLOTS), dtype=np.int64)
    price = np.zeros((count, SLOTS), dtype=np.int64)
    size = np.zeros((count, SLOTS), dtype=np.int64)
    stamp = np.repeat(quote_times[:, None], SLOTS, axis=1)
    keep = np.zeros((count, SLOTS), dtype=bool)
    moved = moves != 0
    # A move: the old ask and bid removed, the new bid and ask set (one book message).
    side[:, 0], price[:, 0] = ASK, (previous + 1) * TICK
    side[:, 1], price[:, 1] = BID, previous * TICK
    side[:, 2], price[:, 2], size[:, 2] = BID, bids * TICK, level_sizes[:, 0]
    side[:, 3], price[:, 3], size[:, 3] = ASK, (bids + 1) * TICK, level_sizes[:, 1]
    keep[:, :4] = moved[:, None]
    # A size change at the top: slot 0 becomes that one event.
    change_side = aggressor ^ rng.integers(0, 2, count)
    side[resized, 0] = change_side[resized]
    price[resized, 0] = (bids[resized] + change_side[resized]) * TICK
    size[resized, 0] = level_sizes[resized, 0]
    keep[resized, 0] = True
    # The trade: a buyer pays the ask, a seller hits the bid.
    kind[:, 4] = TRADE
    side[:, 4] = aggressor
    price[:, 4] = (bids + (aggressor == BID)) * TICK
    size[:, 4] = trade_sizes
    stamp[:, 4] = times
    keep[:, 4] = True
    mask = keep.ravel()
    frame = _frame(
        stamp.ravel()[mask],
        kind.ravel()[mask],
        side.ravel()[mask],
        price.ravel()[mask],
        size.ravel()[mask],
    )
    return frame, int(bids[-1]), int(times[-1])


def _frame(
    ts: np.ndarray, kind: np.ndarray, side: np.ndarray, price: np.ndarray, size: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts_event": pl.Series(ts, dtype=SCHEMA["ts_event"]),
            # Received a fixed 300 µs after the venue's stamp (one message, one batch).
            "ts_init": pl.Series(ts + 300_000, dtype=SCHEMA["ts_init"]),
            "kind": pl.Series(kind, dtype=SCHEMA["kind"]),
            "side": pl.Series(side, dtype=SCHEMA["side"]),
            "price": pl.Series(price, dtype=SCHEMA["price"]),
            "size": pl.Series(size, dtype=SCHEMA["size"]),
        }
    )


def _write(writer: TickWriter, frame: pl.DataFrame) -> None:
    for offset in range(0, frame.height, ROWS_PER_PART):
        writer.write_frame(frame.slice(offset, ROWS_PER_PART))


def trade_prices(root: Path) -> list[int]:
    """Every trade's price in replay order (for the bare loop; read outside its timing)."""
    files = sorted(Path(root).rglob("*.parquet"))
    frame = pl.scan_parquet(files).filter(pl.col("kind") == TRADE).select("ts_init", "price")
    return frame.collect().sort("ts_init", maintain_order=True)["price"].to_list()


def trade_rows(root: Path) -> tuple[list[int], list[int], list[int], list[int]]:
    """Every trade's price, size, aggressor side and ``ts_event`` in replay order (for the
    callback ceiling of ``bench/bench_backtest.py``; read outside its timing)."""
    files = sorted(Path(root).rglob("*.parquet"))
    frame = (
        pl.scan_parquet(files)
        .filter(pl.col("kind") == TRADE)
        .select("ts_init", "price", "size", "side", "ts_event")
        .collect()
        .sort("ts_init", maintain_order=True)
    )
    return (
        frame["price"].to_list(),
        frame["size"].to_list(),
        frame["side"].to_list(),
        frame["ts_event"].to_list(),
    )
