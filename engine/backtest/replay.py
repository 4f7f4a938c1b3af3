"""Recorded market data back as the engine's batches, in order, one day in memory at a time.

A recording keeps, per event, ``ts_init``: when the engine received the batch it came in (the
time the node passed to :meth:`~engine.strategy.runner.StrategyRunner.process_batch`). The
backtest replays those batches as they were: events with the same ``ts_init`` form one batch,
processed at that time. Paper trading on the same feed saw exactly these batches, which is why a
backtest reproduces its fills to the unit.

Across instruments, batches are merged by ``ts_init`` and, inside a batch, by event time; each
instrument's own events keep their recorded order (the merge key is the running maximum of its
``ts_event``, so a venue timestamp that steps back never reorders a book).

Memory: about one part file (one Parquet row group) per instrument at a time, merged as it is
read (:mod:`engine.backtest.stream`), converted to Python lists a chunk at a time; a day only
where it cannot stream (an edge day of a time window, ``ts_init`` stepping back, an optimizer's
in-memory store). A longer day or a year of days streams through the same space.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import numpy as np
import polars as pl

from engine.backtest.stream import stream_day, streamable
from engine.backtest.time_range import TimeRange
from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.storage.part_reading import scan_parts
from engine.storage.tick_store import TickStore, book_after

CHUNK_ROWS = 65_536
"""Rows converted to Python lists at a time (cut at a batch boundary)."""


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What a replay covers: instruments (with the engine's indexes), days, and the window
    ``[start_ns, end_ns)`` inside them (None: the days whole)."""

    instrument_ids: tuple[str, ...]
    indexes: tuple[int, ...]
    days: tuple[date, ...]
    start_ns: int | None = None
    end_ns: int | None = None


def plan_replay(
    store: TickStore,
    instrument_ids: Sequence[str],
    indexes: Sequence[int],
    start: date | None,
    end: date | None,
    window: TimeRange | None = None,
) -> ReplayPlan:
    """The stored days between ``start`` and ``end`` (or those ``window`` touches)."""
    if window is not None:
        start, end = window.first_day, window.last_day
    days = sorted({day for iid in instrument_ids for day in store.days(iid)})
    chosen = [d for d in days if (start is None or d >= start) and (end is None or d <= end)]
    return ReplayPlan(
        tuple(instrument_ids),
        tuple(indexes),
        tuple(chosen),
        window.start_ns if window else None,
        window.end_ns if window else None,
    )


def count_rows(store: TickStore, plan: ReplayPlan) -> int:
    """Rows the replay will read at most (from Parquet metadata; for progress)."""
    paths = [
        part.path for iid in plan.instrument_ids for day in plan.days
        for part in store.parts(iid, day)
    ]  # fmt: skip
    if not paths:
        return 0
    # One scan of every part (a scan a part costs about a millisecond each in polars' set-up).
    return scan_parts(paths, lambda scan: scan.select(pl.len()))


def instruments_without_book(store: TickStore, plan: ReplayPlan) -> list[str]:
    """Instruments whose planned days hold no book level at all (trades only).

    The paper fill model walks the book, so on such data every order would be refused or rest
    forever and the run would "succeed" with no trades; the backtest stops instead."""
    missing = []
    for iid in plan.instrument_ids:
        paths = [part.path for day in plan.days for part in store.parts(iid, day)]
        if not paths:
            continue
        levels = scan_parts(
            paths, lambda scan: scan.filter(pl.col("kind") == BOOK_LEVEL).select(pl.len())
        )
        if not levels:
            missing.append(iid)
    return missing


def read_day_merged(
    store: TickStore, plan: ReplayPlan, day: date, has_book: list[bool]
) -> pl.DataFrame:
    """One day of every instrument, in replay order (see the module docstring)."""
    frames = []
    for position, (iid, index) in enumerate(zip(plan.instrument_ids, plan.indexes, strict=True)):
        frame = _in_window(store.read_day(iid, day, has_book=has_book[position]), plan)
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


def _in_window(frame: pl.DataFrame, plan: ReplayPlan) -> pl.DataFrame:
    """The rows of ``frame`` inside the plan's window. Events before its start are folded into
    one book snapshot at the start: the book is whole when the window opens, and no strategy
    sees a trade or a book change from before it."""
    if plan.end_ns is not None and frame.height:
        frame = frame.filter(pl.col("ts_event") < plan.end_ns)
    start = plan.start_ns
    if start is None or not frame.height or frame["ts_event"][0] >= start:
        return frame
    before = frame.filter(pl.col("ts_event") < start)
    after = frame.filter(pl.col("ts_event") >= start)
    bids, asks = book_after(before)
    levels = [(0, p, q) for p, q in sorted(bids.items(), reverse=True)]
    levels += [(1, p, q) for p, q in sorted(asks.items())]
    stamp = min(start, cast(int, after["ts_init"].min())) if after.height else start
    count = len(levels) + 1
    snapshot = pl.DataFrame(
        {
            "ts_event": pl.Series([start] * count, dtype=pl.Int64()),
            "ts_init": pl.Series([stamp] * count, dtype=pl.Int64()),
            "kind": pl.Series([BOOK_CLEAR] + [BOOK_LEVEL] * len(levels), dtype=pl.Int8()),
            "side": pl.Series([0] + [side for side, _, _ in levels], dtype=pl.Int8()),
            "price": pl.Series([0] + [p for _, p, _ in levels], dtype=pl.Int64()),
            "size": pl.Series([0] + [q for _, _, q in levels], dtype=pl.Int64()),
            "snapshot": pl.Series([True] * count, dtype=pl.Boolean()),
        }
    )
    return pl.concat([snapshot, after.select(snapshot.columns)], how="vertical")


class ReplayChunk:
    """About :data:`CHUNK_ROWS` rows of a replay, cut at a batch boundary.

    Batch ``j`` is rows ``starts[j]`` to ``ends[j]`` (exclusive), received at ``inits[j]``;
    ``rows_before`` counts the rows of the replay before this chunk (for progress).

    The columns are numpy arrays (``kind_array``, ``starts_array`` and the rest: what the
    compiled lane of the hot loop reads). The Python lists the pure-Python paths read
    (``kind``, ``instrument``, ``side``, ``price``, ``size``, ``ts_event``; ``starts``, ``ends``
    and ``inits``) are made from them on first use, a group at once: a chunk the compiled lane
    takes whole is never converted, and the general path reads its
    first :data:`ARRAY_BATCHES` batches of a chunk from the arrays (:class:`BatchCutter`)."""

    __slots__ = (
        "ends",
        "ends_array",
        "inits",
        "inits_array",
        "instrument",
        "instrument_array",
        "kind",
        "kind_array",
        "listed",
        "price",
        "price_array",
        "rows_before",
        "served",
        "side",
        "side_array",
        "size",
        "size_array",
        "sole_instrument",
        "starts",
        "starts_array",
        "ts_event",
        "ts_event_array",
    )

    starts: list[int]
    ends: list[int]
    inits: list[int]
    kind: list[int]
    instrument: list[int]
    side: list[int]
    price: list[int]
    size: list[int]
    ts_event: list[int]

    def __init__(
        self,
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
        columns: pl.DataFrame,
        rows_before: int,
        sole_instrument: int = -1,
    ) -> None:
        self.starts_array, self.ends_array, self.inits_array = bounds
        # Int8 kinds and sides, Int64 the rest, as the tick store writes them.
        self.kind_array = columns["kind"].to_numpy()
        self.side_array = columns["side"].to_numpy()
        self.price_array = columns["price"].to_numpy()
        self.size_array = columns["size"].to_numpy()
        self.ts_event_array = columns["ts_event"].to_numpy()
        self.instrument_array = columns["instrument"].to_numpy()
        self.rows_before = rows_before
        self.sole_instrument = sole_instrument
        """The instrument index when every row is that one instrument's (-1: several)."""
        self.listed = False
        """The row lists are made."""
        self.served = 0
        """Batches :class:`BatchCutter` cut from the arrays."""

    @property
    def count(self) -> int:
        """Batches in the chunk."""
        return len(self.starts_array)

    def __getattr__(self, name: str) -> list[int]:
        # Called only for a slot not yet set: the lists, made on first use.
        if name in _BATCH_LISTS:
            self.starts = self.starts_array.tolist()
            self.ends = self.ends_array.tolist()
            self.inits = self.inits_array.tolist()
            return cast(list[int], getattr(self, name))
        if name not in _ROW_LISTS:
            raise AttributeError(name)
        self.kind = self.kind_array.tolist()
        sole = self.sole_instrument
        # One instrument (most replays): its index, with no conversion row by row.
        self.instrument = [sole] * len(self.kind) if sole >= 0 else self.instrument_array.tolist()
        self.side = self.side_array.tolist()
        self.price = self.price_array.tolist()
        self.size = self.size_array.tolist()
        self.ts_event = self.ts_event_array.tolist()
        self.listed = True
        return cast(list[int], getattr(self, name))


_ROW_LISTS = frozenset(("kind", "instrument", "side", "price", "size", "ts_event"))
_BATCH_LISTS = frozenset(("starts", "ends", "inits"))
ARRAY_BATCHES = 2_048
"""Batches of a chunk the general path cuts from its arrays before the chunk is converted to
lists: a numpy read costs more per batch than a list's, but the compiled lane takes most batches
of most chunks, and converting a chunk for the few an order's time on the venue sends the
general way costs more than reading them from the arrays."""


def replay_chunks(store: TickStore, plan: ReplayPlan) -> Iterator[ReplayChunk]:
    """The replay as :class:`ReplayChunk` objects, in order (what :func:`replay_batches` cuts
    into batches, and what the backtest's hot loop reads row by row)."""
    has_book = [False] * len(plan.instrument_ids)
    rows_done = 0
    for day in plan.days:
        for chunk in day_frames(store, plan, day, has_book):
            height = chunk.height
            if not height:
                continue  # (none is made; a chunk always has a batch with a last row)
            init = chunk["ts_init"].to_numpy()
            # Each batch's first row, end and ts_init, made in numpy: the loop only reads them.
            first_rows = np.flatnonzero(init[1:] != init[:-1])
            first_rows += 1
            first_rows = np.concatenate(([0], first_rows))
            ends = np.empty_like(first_rows)
            ends[:-1] = first_rows[1:]
            ends[-1] = height
            instrument = chunk["instrument"]
            first = instrument[0]
            sole = first if (instrument == first).all() else -1
            yield ReplayChunk((first_rows, ends, init[first_rows]), chunk, rows_done, sole)
            rows_done += chunk.height


def day_frames(
    store: TickStore, plan: ReplayPlan, day: date, has_book: list[bool]
) -> Iterator[pl.DataFrame]:
    """One day of the plan, merged in replay order, as frames of whole batches: a part file at
    a time where the day streams (:func:`~engine.backtest.stream.stream_day`), else the whole
    day read, sorted and cut into about :data:`CHUNK_ROWS` rows. Sets ``has_book`` as
    :func:`read_day_merged` does."""
    chunks = None
    if streamable(store, day, plan.start_ns, plan.end_ns):
        chunks = stream_day(store, plan.instrument_ids, plan.indexes, day, has_book)
    if chunks is None:
        chunks = _day_chunks(read_day_merged(store, plan, day, has_book))
    return chunks


def replay_batches(store: TickStore, plan: ReplayPlan) -> Iterator[tuple[int, MarketBatch, int]]:
    """Yield ``(ts_init, batch, rows read so far)`` for every recorded batch, in order.

    The batch is refilled in place for the next one (see :class:`BatchCutter`): use it before
    the next.
    """
    cutter = BatchCutter()
    for chunk in replay_chunks(store, plan):
        cut, rows_done = cutter.cut, chunk.rows_before
        for a, b, ts_init in zip(chunk.starts, chunk.ends, chunk.inits, strict=True):
            yield ts_init, cut(chunk, a, b), rows_done + b


class BatchCutter:
    """Rows ``a`` to ``b`` of a :class:`ReplayChunk` as the :class:`MarketBatch` the pipeline
    takes, refilled in place each time. A one-event batch (most batches of a real feed: one
    trade, one book message) is the same object every time, its one-element columns
    overwritten: nothing is allocated for it."""

    __slots__ = ("batch", "single")

    def __init__(self) -> None:
        self.batch = MarketBatch()
        self.single = _one_event_batch()

    def cut(self, chunk: ReplayChunk, a: int, b: int) -> MarketBatch:
        if not chunk.listed and chunk.served < ARRAY_BATCHES:
            chunk.served += 1
            return self._from_arrays(chunk, a, b)
        if b - a == 1:
            single = self._single()
            single.kind[0] = chunk.kind[a]
            single.instrument[0] = chunk.instrument[a]
            single.side[0] = chunk.side[a]
            single.price[0] = chunk.price[a]
            single.size[0] = chunk.size[a]
            single.ts_event[0] = chunk.ts_event[a]
            return single
        batch = self.batch
        batch.kind = chunk.kind[a:b]
        batch.instrument = chunk.instrument[a:b]
        batch.side = chunk.side[a:b]
        batch.price = chunk.price[a:b]
        batch.size = chunk.size[a:b]
        batch.ts_event = chunk.ts_event[a:b]
        return batch

    def _from_arrays(self, chunk: ReplayChunk, a: int, b: int) -> MarketBatch:
        """:meth:`cut` from the chunk's numpy columns (Python ints, as from its lists)."""
        if b - a == 1:
            single = self._single()
            single.kind[0] = int(chunk.kind_array[a])
            single.instrument[0] = int(chunk.instrument_array[a])
            single.side[0] = int(chunk.side_array[a])
            single.price[0] = int(chunk.price_array[a])
            single.size[0] = int(chunk.size_array[a])
            single.ts_event[0] = int(chunk.ts_event_array[a])
            return single
        batch = self.batch
        batch.kind = chunk.kind_array[a:b].tolist()
        batch.instrument = chunk.instrument_array[a:b].tolist()
        batch.side = chunk.side_array[a:b].tolist()
        batch.price = chunk.price_array[a:b].tolist()
        batch.size = chunk.size_array[a:b].tolist()
        batch.ts_event = chunk.ts_event_array[a:b].tolist()
        return batch

    def _single(self) -> MarketBatch:
        single = self.single
        if len(single.kind) != 1:  # a consumer changed it (a crossed-book rewrite)
            single = self.single = _one_event_batch()
        return single


def _one_event_batch() -> MarketBatch:
    single = MarketBatch()
    single.append(0, 0, 0, 0, 0, 0)
    return single


def _day_chunks(merged: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """A whole merged day as chunks of whole batches of about ``CHUNK_ROWS`` rows."""
    if not merged.height:
        return
    init = merged["ts_init"].to_numpy()
    bounds = np.asarray([0, *(np.flatnonzero(np.diff(init)) + 1).tolist(), merged.height])
    del init
    first = 0
    while first < len(bounds) - 1:
        last = int(np.searchsorted(bounds, bounds[first] + CHUNK_ROWS, side="right")) - 1
        last = max(last, first + 1)
        yield merged.slice(int(bounds[first]), int(bounds[last] - bounds[first]))
        first = last
