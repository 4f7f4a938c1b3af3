"""One recorded day, merged across instruments a part file at a time (bounded memory).

:func:`engine.backtest.replay.read_day_merged` reads a whole day of every instrument and sorts
it: memory grows with the day. :func:`stream_day` gives the same rows in the same order, as
chunks that each hold whole batches, holding about one part file (one Parquet row group, at most
``ROWS_PER_PART`` rows as the recorder writes them) per instrument at a time.

Why it is the same order: the whole-day sort is a stable sort by ``(ts_init, order_key)`` of the
instruments' rows concatenated in plan order, where ``order_key`` is the running maximum of
``ts_event``. When each instrument's ``ts_init`` never steps back (a recording's always: it is
the engine's own clock), each instrument's rows are already in that order, and the sort is a
merge. A chunk is cut at a ``ts_init`` that no instrument still to be read can go below, so a
chunk's rows sorted alone fall where the whole-day sort puts them, and no batch (rows of one
``ts_init``) is split. A day where some instrument's ``ts_init`` steps back (imported data, say)
is not streamed: :func:`stream_day` returns None and the caller sorts the whole day.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import polars as pl

from engine.storage.part_order import part_order
from engine.storage.part_reading import read_part
from engine.storage.tick_store import NS_PER_DAY, PartFile, TickStore, day_start_ns


class _Source:
    """One instrument's parts of the day, read one at a time into ``buffer``."""

    def __init__(self, position: int, index: int, parts: list[PartFile], has_book: bool) -> None:
        self.position = position
        self.keyed = True
        """Add ``order_key`` (what rows of several instruments are merged by); an instrument
        read alone is in order as it is."""
        self.index = index
        self.parts = parts
        self.next = 0
        self.has_book = has_book
        self.running_max: int | None = None
        self.buffer: pl.DataFrame | None = None

    @property
    def more(self) -> bool:
        return self.next < len(self.parts)

    def load(self) -> None:
        """Append the next part's rows (snapshot rows of a continuing part dropped as
        :meth:`TickStore.read_day` drops them) to the buffer."""
        part = self.parts[self.next]
        self.next += 1
        frame = read_part(part.path)
        if self.has_book and part.continues:
            frame = frame.filter(~pl.col("snapshot"))
        self.has_book = True
        if not frame.height:
            return
        columns = [
            pl.col("ts_init"),
            pl.col("kind"),
            pl.lit(self.index, pl.Int32).alias("instrument"),
            pl.col("side"),
            pl.col("price"),
            pl.col("size"),
            pl.col("ts_event"),
        ]
        if self.keyed:
            key = pl.col("ts_event").cum_max()
            if self.running_max is not None:
                key = pl.max_horizontal(key, pl.lit(self.running_max, pl.Int64))
            columns.insert(1, key.alias("order_key"))
        rows = frame.select(columns)
        if self.keyed:
            self.running_max = int(rows["order_key"][-1])
        buffer = self.buffer
        self.buffer = rows if buffer is None or not buffer.height else pl.concat([buffer, rows])


def streamable(store: TickStore, day: date, start_ns: int | None, end_ns: int | None) -> bool:
    """Whether ``day`` can be streamed: a plain store (an optimizer's caching store serves whole
    days from memory) and a day the plan's window covers whole (the window's edge days fold the
    book before the start into a snapshot, from the whole day)."""
    if type(store).read_day is not TickStore.read_day:
        return False
    first = day_start_ns(day)
    return (start_ns is None or first >= start_ns) and (
        end_ns is None or first + NS_PER_DAY <= end_ns
    )


def stream_day(
    store: TickStore,
    instrument_ids: Sequence[str],
    indexes: Sequence[int],
    day: date,
    has_book: list[bool],
) -> Iterator[pl.DataFrame] | None:
    """The day's merged rows as chunks of whole batches, or None when the day cannot be streamed
    (an instrument's ``ts_init`` steps back). Sets ``has_book`` as ``read_day_merged`` does."""
    sources = []
    for position, (iid, index) in enumerate(zip(instrument_ids, indexes, strict=True)):
        parts = store.parts(iid, day)
        if not parts:
            continue
        if not _in_order(parts, has_book[position]):
            return None
        sources.append(_Source(position, index, parts, has_book[position]))
    if len(sources) == 1:
        sources[0].keyed = False  # nothing to merge it with
    return _merge(sources, has_book)


def _in_order(parts: list[PartFile], has_book: bool) -> bool:
    """True when ``ts_init`` of the rows a replay keeps never steps back (from each part's
    metadata where the writer stored it, else its column: engine.storage.part_order)."""
    last: int | None = None
    for part in parts:
        summary = part_order(part.path, live_only=has_book and part.continues)
        has_book = True
        if summary is None:
            continue
        ordered, first, end = summary
        if not ordered or (last is not None and first < last):
            return False
        last = end
    return True


def _merge(sources: list[_Source], has_book: list[bool]) -> Iterator[pl.DataFrame]:
    while True:
        for source in sources:
            while (source.buffer is None or not source.buffer.height) and source.more:
                source.load()
            if source.buffer is not None and source.buffer.height:
                has_book[source.position] = True
        live = [s for s in sources if s.buffer is not None and s.buffer.height]
        if not live:
            return
        # Rows below the smallest last ts_init of the instruments still being read are final.
        waiting = [s for s in live if s.more]
        bound = (
            min(int(s.buffer["ts_init"][-1]) for s in waiting if s.buffer is not None)
            if (waiting)
            else None
        )
        pieces = []
        for source in live:
            buffer = source.buffer
            assert buffer is not None
            take = buffer.height
            if bound is not None:
                take = int(buffer["ts_init"].search_sorted(bound, side="left"))
            if take:
                pieces.append(buffer.slice(0, take))
                source.buffer = buffer.slice(take)
        if not pieces:
            # Every buffered row is at the bound: read on where it was reached.
            for source in waiting:
                if source.buffer is not None and int(source.buffer["ts_init"][-1]) == bound:
                    source.load()
            continue
        if len(pieces) == 1:
            yield pieces[0]
        else:
            merged = pl.concat(pieces, how="vertical")
            yield merged.sort(["ts_init", "order_key"], maintain_order=True)
