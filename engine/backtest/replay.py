"""Recorded market data back as the engine's batches, in order, one day in memory at a time.

A recording keeps, per event, ``ts_init``: when the engine received the batch it came in (the
time the node passed to :meth:`~engine.strategy.runner.StrategyRunner.process_batch`). The
backtest replays those batches as they were: events with the same ``ts_init`` form one batch,
processed at that time. Paper trading on the same feed saw exactly these batches, which is why a
backtest reproduces its fills to the unit.

Across instruments, batches are merged by ``ts_init`` and, inside a batch, by event time; each
instrument's own events keep their recorded order (the merge key is the running maximum of its
``ts_event``, so a venue timestamp that steps back never reorders a book).

Memory: one day of every instrument (the day's merged columns), converted to Python lists a
chunk at a time; a year of data streams through the same space.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from engine.domain.market_data import MarketBatch
from engine.storage.tick_store import TickStore

CHUNK_ROWS = 65_536
"""Rows converted to Python lists at a time (cut at a batch boundary)."""


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What a replay covers: instruments (with the engine's indexes) and days."""

    instrument_ids: tuple[str, ...]
    indexes: tuple[int, ...]
    days: tuple[date, ...]


def plan_replay(
    store: TickStore,
    instrument_ids: Sequence[str],
    indexes: Sequence[int],
    start: date | None,
    end: date | None,
) -> ReplayPlan:
    days = sorted({day for iid in instrument_ids for day in store.days(iid)})
    chosen = [d for d in days if (start is None or d >= start) and (end is None or d <= end)]
    return ReplayPlan(tuple(instrument_ids), tuple(indexes), tuple(chosen))


def count_rows(store: TickStore, plan: ReplayPlan) -> int:
    """Rows the replay will read at most (from Parquet metadata; for progress)."""
    total = 0
    for iid in plan.instrument_ids:
        for day in plan.days:
            for part in store.parts(iid, day):
                total += pl.scan_parquet(part.path).select(pl.len()).collect().item()
    return total


def read_day_merged(
    store: TickStore, plan: ReplayPlan, day: date, has_book: list[bool]
) -> pl.DataFrame:
    """One day of every instrument, in replay order (see the module docstring)."""
    frames = []
    for position, (iid, index) in enumerate(zip(plan.instrument_ids, plan.indexes, strict=True)):
        frame = store.read_day(iid, day, has_book=has_book[position])
        if not frame.height:
            continue
        has_book[position] = True
        frames.append(
            frame.select(
                pl.col("ts_init"),
                pl.col("ts_event").cum_max().alias("order_key"),
                pl.col("kind"),
                pl.lit(index, pl.Int32).alias("instrument"),
                pl.col("side"),
                pl.col("price"),
                pl.col("size"),
                pl.col("ts_event"),
            )
        )
    if not frames:
        return pl.DataFrame()
    merged = pl.concat(frames, how="vertical")
    return merged.sort(["ts_init", "order_key"], maintain_order=True)


def replay_batches(store: TickStore, plan: ReplayPlan) -> Iterator[tuple[int, MarketBatch, int]]:
    """Yield ``(ts_init, batch, rows read so far)`` for every recorded batch, in order.

    The same :class:`MarketBatch` object is refilled for each batch: use it before the next.
    """
    has_book = [False] * len(plan.instrument_ids)
    batch = MarketBatch()
    rows_done = 0
    for day in plan.days:
        merged = read_day_merged(store, plan, day, has_book)
        if not merged.height:
            continue
        init = merged["ts_init"].to_numpy()
        starts = np.flatnonzero(np.diff(init)) + 1
        bounds = [0, *starts.tolist(), merged.height]
        bound_array = np.asarray(bounds)
        del init, starts
        first = 0
        while first < len(bounds) - 1:
            # A chunk of whole batches: from bounds[first] up to about CHUNK_ROWS rows.
            last = int(np.searchsorted(bound_array, bounds[first] + CHUNK_ROWS, side="right")) - 1
            last = max(last, first + 1)
            offset, stop = bounds[first], bounds[last]
            chunk = merged.slice(offset, stop - offset)
            kinds = chunk["kind"].to_list()
            instruments = chunk["instrument"].to_list()
            sides = chunk["side"].to_list()
            prices = chunk["price"].to_list()
            sizes = chunk["size"].to_list()
            times = chunk["ts_event"].to_list()
            inits = chunk["ts_init"].to_list()
            for group in range(first, last):
                a, b = bounds[group] - offset, bounds[group + 1] - offset
                batch.kind = kinds[a:b]
                batch.instrument = instruments[a:b]
                batch.side = sides[a:b]
                batch.price = prices[a:b]
                batch.size = sizes[a:b]
                batch.ts_event = times[a:b]
                yield inits[a], batch, rows_done + b
            rows_done += stop - offset
            first = last
        del merged
