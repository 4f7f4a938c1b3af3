"""The tick store: recorded market events as Parquet, partitioned by venue / instrument / date.

Layout under the store root (``<data.dir>/ticks`` by default)::

    venue=UPBIT/instrument=KRW-BTC.UPBIT/instrument.json
    venue=UPBIT/instrument=KRW-BTC.UPBIT/date=2026-11-20/part-<first ts>-<session>-<seq>.parquet

Each part holds one instrument's :class:`~engine.domain.market_data.MarketBatch` events in arrival
order, as columns ``ts_event`` (ns UTC), ``ts_init`` (ns, when the engine received it), ``kind``,
``side``, ``price`` and ``size`` (raw integers at the instrument's precisions, see
``instrument.json``), plus ``snapshot``: true for rows that restate the whole book (a BOOK_CLEAR
row followed by one BOOK_LEVEL row per level).

Why this shape:

- A part is written to a temporary name and renamed when complete, so a crash (even ``kill -9``)
  leaves only whole, readable files and loses at most the writer's open buffer.
- The first part of a recording session, and the first part of each UTC day, start with a book
  snapshot, so a replay can begin at any day. A replay that already holds the book skips the
  snapshot rows of a continuing part (``seq > 0``): restating an unchanged book would look like
  cancels and re-adds to the fill model's queue positions, and paper trading never saw those.
- Dates are UTC days (KRX's session, 09:00-15:30 KST, falls inside one UTC day).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from engine.domain.instrument import Instrument
from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.storage.instrument_file import read_instrument, write_instrument
from engine.storage.part_order import order_metadata
from engine.storage.part_reading import TickStoreError, read_part
from engine.storage.paths import store_root

__all__ = [
    "ROWS_PER_PART",
    "SCHEMA",
    "PartFile",
    "TickStore",
    "TickStoreError",
    "TickWriter",
    "store_root",
]

NS_PER_DAY = 86_400 * 1_000_000_000
ROWS_PER_PART = 65_536
"""Default rows per part file: one Parquet row group, the most a crash can lose."""

SCHEMA: dict[str, pl.DataType] = {
    "ts_event": pl.Int64(),
    "ts_init": pl.Int64(),
    "kind": pl.Int8(),
    "side": pl.Int8(),
    "price": pl.Int64(),
    "size": pl.Int64(),
    "snapshot": pl.Boolean(),
}
_PART_RE = re.compile(r"^part-(\d{19})-(\d{19})-(\d{6})\.parquet$")
_PART_NAME = "part-<first ts_event, 19 digits>-<session, 19 digits>-<seq, 6 digits>.parquet"


def _is_writer_temporary(path: Path) -> bool:
    """A part the writer had not finished renaming when it died (``.part-….parquet.tmp``)."""
    return path.name.startswith(".part-") and path.name.endswith(".parquet.tmp")


def instrument_folder(root: Path, instrument_id: str) -> Path:
    venue = instrument_id.rpartition(".")[2]
    return root / f"venue={venue}" / f"instrument={instrument_id}"


def day_of(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).date()


def day_start_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


@dataclass(frozen=True, slots=True)
class PartFile:
    """One part file of one instrument and day."""

    path: Path
    first_ts: int
    session: int
    seq: int

    @property
    def continues(self) -> bool:
        """True when the part continues a recording session (its snapshot restates the book)."""
        return self.seq > 0


class TickWriter:
    """Buffers one instrument's events and writes them as part files.

    Call :meth:`append_batch` with each batch (events of other instruments are skipped) and
    :meth:`flush` at least every few seconds; :meth:`close` flushes. The writer keeps the book it
    has seen (bids and asks by raw price) to restate it at the start of a session and of each day.
    """

    def __init__(
        self,
        root: Path,
        instrument: Instrument,
        index: int,
        *,
        session: int,
        rows_per_part: int = ROWS_PER_PART,
    ) -> None:
        self.root = Path(root)
        self.instrument = instrument
        self.index = index
        self.session = session
        self.rows_per_part = rows_per_part
        self.folder = instrument_folder(self.root, str(instrument.id))
        write_instrument(self.folder, instrument)
        self._seq = 0
        self._day: date | None = None
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._columns: tuple[list[int], ...] = ([], [], [], [], [], [])
        self.rows_written = 0
        self.parts_written = 0

    @property
    def buffered(self) -> int:
        return len(self._columns[0])

    def append(
        self, kind: int, side: int, price: int, size: int, ts_event: int, ts_init: int
    ) -> None:
        ts, init, kinds, sides, prices, sizes = self._columns
        ts.append(ts_event)
        init.append(ts_init)
        kinds.append(kind)
        sides.append(side)
        prices.append(price)
        sizes.append(size)
        if len(ts) >= self.rows_per_part:
            self.flush()

    def append_batch(self, batch: MarketBatch, ts_init: int) -> None:
        """Take this instrument's events from ``batch`` (in order)."""
        index = self.index
        instruments = batch.instrument
        if (
            instruments
            and instruments[0] == index
            and instruments[-1] == index
            and all(i == index for i in instruments)
        ):
            rows: range | list[int] = range(len(instruments))
        else:
            rows = [row for row, i in enumerate(instruments) if i == index]
        if not rows:
            return
        ts, init, kinds, sides, prices, sizes = self._columns
        for row in rows:
            ts.append(batch.ts_event[row])
            kinds.append(batch.kind[row])
            sides.append(batch.side[row])
            prices.append(batch.price[row])
            sizes.append(batch.size[row])
        init.extend([ts_init] * len(rows))
        if len(ts) >= self.rows_per_part:
            self.flush()

    def flush(self) -> list[Path]:
        """Write the buffer as part files (one per UTC day it spans); returns their paths."""
        if not self._columns[0]:
            return []
        frame = pl.DataFrame(
            {
                name: pl.Series(name, values, dtype=SCHEMA[name])
                for name, values in zip(
                    ("ts_event", "ts_init", "kind", "side", "price", "size"),
                    self._columns,
                    strict=True,
                )
            }
        )
        for column in self._columns:
            column.clear()
        return self.write_frame(frame)

    def write_frame(self, frame: pl.DataFrame) -> list[Path]:
        """Write rows with the store's columns (no ``snapshot``) as part files, one per UTC day
        they span, bypassing the buffer (the recorder buffers numpy chunks itself)."""
        if not frame.height:
            return []
        days = (frame["ts_event"] // NS_PER_DAY).to_numpy()
        cuts = np.flatnonzero(np.diff(days)) + 1
        written = []
        for start, end in zip([0, *cuts.tolist()], [*cuts.tolist(), frame.height], strict=True):
            written.append(self._write_part(frame.slice(start, end - start)))
        return written

    def close(self) -> list[Path]:
        return self.flush()

    # --- internals ---------------------------------------------------------------------------

    def _write_part(self, rows: pl.DataFrame) -> Path:
        first_ts = int(rows["ts_event"][0])
        day = day_of(first_ts)
        restate = self._seq == 0 or day != self._day
        parts = [self._snapshot_rows(first_ts)] if restate else []
        parts.append(rows.with_columns(pl.lit(False).alias("snapshot")))
        frame = pl.concat(parts, how="vertical")
        folder = self.folder / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{first_ts:019d}-{self.session:019d}-{self._seq:06d}.parquet"
        temporary = folder / f".{name}.tmp"
        metadata = order_metadata(frame["ts_init"].to_numpy(), rows["ts_init"].to_numpy())
        frame.write_parquet(
            temporary, row_group_size=max(frame.height, 1), statistics=True, metadata=metadata
        )
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        path = folder / name
        temporary.replace(path)
        self._update_book(rows)
        self._seq += 1
        self._day = day
        self.rows_written += rows.height
        self.parts_written += 1
        return path

    def _snapshot_rows(self, ts: int) -> pl.DataFrame:
        levels = [(0, p, s) for p, s in sorted(self._bids.items(), reverse=True)]
        levels += [(1, p, s) for p, s in sorted(self._asks.items())]
        count = len(levels) + 1
        return pl.DataFrame(
            {
                "ts_event": pl.Series([ts] * count, dtype=pl.Int64()),
                "ts_init": pl.Series([ts] * count, dtype=pl.Int64()),
                "kind": pl.Series([BOOK_CLEAR] + [BOOK_LEVEL] * len(levels), dtype=pl.Int8()),
                "side": pl.Series([0] + [side for side, _, _ in levels], dtype=pl.Int8()),
                "price": pl.Series([0] + [p for _, p, _ in levels], dtype=pl.Int64()),
                "size": pl.Series([0] + [s for _, _, s in levels], dtype=pl.Int64()),
                "snapshot": pl.Series([True] * count, dtype=pl.Boolean()),
            }
        )

    def _update_book(self, rows: pl.DataFrame) -> None:
        """Carry the book past ``rows``: the last size per level since the last clear."""
        book_after(rows, self._bids, self._asks)


def book_after(
    rows: pl.DataFrame, bids: dict[int, int] | None = None, asks: dict[int, int] | None = None
) -> tuple[dict[int, int], dict[int, int]]:
    """The book (raw price -> size per side) after ``rows``, starting from ``bids``/``asks``
    (updated in place): the last size per level since the last clear, empty levels dropped."""
    bids = {} if bids is None else bids
    asks = {} if asks is None else asks
    kinds = rows["kind"].to_numpy()
    clears = np.flatnonzero(kinds == BOOK_CLEAR)
    if clears.size:
        bids.clear()
        asks.clear()
        rows = rows.slice(int(clears[-1]) + 1)
    last = (
        rows.filter(pl.col("kind") == BOOK_LEVEL)
        .group_by(["side", "price"], maintain_order=True)
        .agg(pl.col("size").last())
    )
    for side, price, size in last.iter_rows():
        book = bids if side == 0 else asks
        if size:
            book[price] = size
        else:
            book.pop(price, None)
    return bids, asks


class TickStore:
    """Reads a tick store root: instruments, days, and time-ordered replay across instruments."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def instrument_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            folder.name.removeprefix("instrument=")
            for folder in self.root.glob("venue=*/instrument=*")
            if folder.is_dir()
        )

    def instrument(self, instrument_id: str) -> Instrument:
        return read_instrument(instrument_folder(self.root, instrument_id))

    def days(self, instrument_id: str) -> list[date]:
        """The days that hold anything; a ``date=`` folder that is not a date is an error."""
        folder = instrument_folder(self.root, instrument_id)
        found = []
        for path in folder.glob("date=*"):
            if not path.is_dir():
                raise TickStoreError(f"{path}: a file where a date=YYYY-MM-DD folder belongs")
            try:
                day = date.fromisoformat(path.name.removeprefix("date="))
            except ValueError:
                raise TickStoreError(
                    f"{path}: folder name is not date=YYYY-MM-DD; rename it or move it out of "
                    "the tick store"
                ) from None
            if any(not _is_writer_temporary(entry) for entry in path.iterdir()):
                found.append(day)
        return sorted(found)

    def parts(self, instrument_id: str, day: date) -> list[PartFile]:
        """The part files of one day, in replay order; any other file there is an error."""
        folder = instrument_folder(self.root, instrument_id) / f"date={day.isoformat()}"
        found = []
        for path in folder.iterdir() if folder.is_dir() else ():
            match = _PART_RE.match(path.name)
            if match and path.is_file():
                first, session, seq = (int(group) for group in match.groups())
                found.append(PartFile(path, first, session, seq))
            elif not _is_writer_temporary(path):
                raise TickStoreError(
                    f"{path}: not a part file of the tick store (expected {_PART_NAME}); "
                    "rename it, or import it with stom data import, or move it out"
                )
        return sorted(found, key=lambda part: (part.first_ts, part.session, part.seq))

    def read_day(self, instrument_id: str, day: date, *, has_book: bool) -> pl.DataFrame:
        """One instrument's events of one day, in order; snapshot rows of continuing parts are
        dropped when the reader already ``has_book`` (see the module docstring)."""
        frames = []
        for part in self.parts(instrument_id, day):
            frame = read_part(part.path)
            if has_book and part.continues:
                frame = frame.filter(~pl.col("snapshot"))
            frames.append(frame)
            has_book = True
        if not frames:
            return pl.DataFrame(schema=SCHEMA)
        return pl.concat(frames, how="vertical")

    def replay(
        self,
        instrument_ids: Iterable[str],
        start: date | None = None,
        end: date | None = None,
        *,
        chunk_rows: int = 65_536,
    ) -> Iterator[tuple[int, MarketBatch]]:
        """Yield ``(day start ns, batch)`` chunks of all instruments' events in time order.

        ``batch.instrument`` holds each instrument's position in ``instrument_ids``. Ties in time
        keep the order of ``instrument_ids``, then the recorded order. Memory holds one day.
        """
        ids = list(instrument_ids)
        days = sorted({day for iid in ids for day in self.days(iid)})
        days = [d for d in days if (start is None or d >= start) and (end is None or d <= end)]
        has_book = [False] * len(ids)
        for day in days:
            frames = []
            for position, iid in enumerate(ids):
                frame = self.read_day(iid, day, has_book=has_book[position])
                if frame.height:
                    has_book[position] = True
                    frames.append(
                        frame.with_columns(pl.lit(position, pl.Int32).alias("instrument"))
                    )
            if not frames:
                continue
            merged = pl.concat(frames, how="vertical").sort("ts_event", maintain_order=True)
            for offset in range(0, merged.height, chunk_rows):
                yield day_start_ns(day), to_batch(merged.slice(offset, chunk_rows))


def to_batch(frame: pl.DataFrame) -> MarketBatch:
    """A frame with the store's columns (and ``instrument``) as a :class:`MarketBatch`."""
    batch = MarketBatch()
    batch.kind = frame["kind"].to_list()
    batch.instrument = frame["instrument"].to_list()
    batch.side = frame["side"].to_list()
    batch.price = frame["price"].to_list()
    batch.size = frame["size"].to_list()
    batch.ts_event = frame["ts_event"].to_list()
    return batch
