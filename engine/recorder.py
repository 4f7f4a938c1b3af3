"""The tick recorder: every market event the engine receives, to the Parquet tick store.

The market loop hands each batch to :meth:`Recorder.on_batch`, which only extends a few lists:
no disk, no await, no numpy, no per-event objects. :meth:`Recorder.run` takes the buffer every
``flush_s`` seconds (sooner once ``rows_per_part`` rows wait) and, in a worker thread, splits it
by instrument (one stable sort) and writes it through each instrument's :class:`TickWriter` (the
store's format: part files written under a temporary name and renamed when complete). So a
crash, even ``kill -9``, loses at most the open buffer, and every ``.parquet`` file left behind is
whole; a leftover ``.part-….tmp`` (a write cut short) is hidden from readers and removed at the
next start.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from engine.config.settings import Settings
from engine.domain.market_data import MarketBatch
from engine.event_wait import wait_event
from engine.market_state import MarketState
from engine.storage.tick_store import ROWS_PER_PART, SCHEMA, TickWriter, store_root

log = logging.getLogger("stom.recorder")

MIN_FREE_BYTES = 64 * 2**20
"""Below this much free space on its disk the recorder stops (the journal needs the room)."""

COLUMNS = ("ts_event", "ts_init", "kind", "side", "price", "size")
DTYPES = {
    "ts_event": np.int64,
    "ts_init": np.int64,
    "kind": np.int8,
    "side": np.int8,
    "price": np.int64,
    "size": np.int64,
}
Step = Callable[[int, MarketBatch], object]
"""A market source: append its events up to a time to a batch (the simulator's ``step``)."""


class _Buffer:
    """Rows waiting to be written, as plain lists (extending a list is the cheapest copy)."""

    __slots__ = ("instrument", "kind", "price", "side", "size", "ts_event", "ts_init")

    def __init__(self) -> None:
        self.instrument: list[int] = []
        self.ts_event: list[int] = []
        self.ts_init: list[int] = []
        self.kind: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.size: list[int] = []

    def __len__(self) -> int:
        return len(self.ts_event)

    def columns(self) -> tuple[list[int], ...]:
        """In the order of :data:`COLUMNS`."""
        return (self.ts_event, self.ts_init, self.kind, self.side, self.price, self.size)


class Recorder:
    """Buffers the market loop's batches and writes them per instrument in a thread."""

    def __init__(
        self,
        root: Path,
        market: MarketState,
        *,
        instrument_ids: Iterable[str] = (),
        rows_per_part: int = ROWS_PER_PART,
        flush_s: float = 2.0,
        session: int | None = None,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.root = Path(root)
        self._market = market
        self._wanted = set(instrument_ids)
        self.rows_per_part = rows_per_part
        self.flush_s = flush_s
        self.session = session if session is not None else time.time_ns()
        self._writers: dict[int, TickWriter | None] = {}
        """By instrument index; None for an instrument not recorded. Used by the writer only."""
        self._buffer = _Buffer()
        self._full = asyncio.Event()
        self._limit = rows_per_part
        self.rows_received = 0
        self.rows_written = 0
        self.failed = ""
        """Why recording stopped (a write failed, e.g. the disk is full); empty while it works."""
        self.min_free_bytes = min_free_bytes
        self.parts_written = 0
        self.removed_leftovers = _remove_leftovers(self.root)

    # --- the market loop's side (no I/O, no numpy: list extends only) ---------------------------

    def on_batch(self, batch: MarketBatch, ts_init: int) -> None:
        """Buffer ``batch``'s events, received at ``ts_init``."""
        count = len(batch.kind)
        if not count or self.failed:
            return
        buffer = self._buffer
        buffer.instrument.extend(batch.instrument)
        buffer.ts_event.extend(batch.ts_event)
        buffer.ts_init.extend([ts_init] * count)
        buffer.kind.extend(batch.kind)
        buffer.side.extend(batch.side)
        buffer.price.extend(batch.price)
        buffer.size.extend(batch.size)
        self.rows_received += count
        if len(buffer.kind) >= self._limit:
            self._full.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer.kind)

    def stop(self, reason: str) -> None:
        """Stop recording for good (the disk is full): the buffer is dropped, nothing more is
        buffered or written, and the reason is logged once."""
        if self.failed:
            return
        self.failed = reason
        self._buffer = _Buffer()
        self._full.set()  # wakes run(), which then idles
        log.error("recorder stopped: %s; trading continues", reason)

    def room_left(self) -> str:
        """Why recording must stop to keep room for the journal, or "" while there is room."""
        try:
            free = shutil.disk_usage(self.root if self.root.exists() else self.root.parent).free
        except OSError:
            return ""
        if free >= self.min_free_bytes:
            return ""
        return (
            f"only {free / 2**20:.1f} MiB free on the disk of {self.root} (the recorder stops"
            f" below {self.min_free_bytes / 2**20:.0f} MiB, to keep room for the journal)"
        )

    # --- writing ---------------------------------------------------------------------------------

    def take(self) -> _Buffer:
        """Hand over the buffer (the loop keeps buffering into a fresh one)."""
        taken, self._buffer = self._buffer, _Buffer()
        self._full.clear()
        return taken

    def write(self, taken: _Buffer) -> int:
        """Write what :meth:`take` handed over (in a worker thread); returns the rows written.

        One stable sort by instrument splits the rows; each instrument's rows keep their order.
        """
        count = len(taken.kind)
        if not count:
            return 0
        instruments = np.fromiter(taken.instrument, dtype=np.int32, count=count)
        columns = [
            np.fromiter(values, dtype=DTYPES[name], count=count)
            for name, values in zip(COLUMNS, taken.columns(), strict=True)
        ]
        order = np.argsort(instruments, kind="stable")
        ordered = instruments[order]
        starts = np.flatnonzero(np.diff(ordered)) + 1
        rows = 0
        for start, end in itertools.pairwise([0, *starts.tolist(), count]):
            writer = self._writer(int(ordered[start]))
            if writer is None:
                continue
            picked = order[start:end]
            frame = pl.DataFrame(
                {
                    name: pl.Series(name, column[picked], dtype=SCHEMA[name])
                    for name, column in zip(COLUMNS, columns, strict=True)
                }
            )
            for offset in range(0, frame.height, self.rows_per_part):
                part = frame.slice(offset, self.rows_per_part)
                self.parts_written += len(writer.write_frame(part))
            rows += frame.height
        self.rows_written += rows
        return rows

    def _writer(self, index: int) -> TickWriter | None:
        if index in self._writers:
            return self._writers[index]
        instrument = self._market.at(index).instrument
        writer = None
        if not self._wanted or str(instrument.id) in self._wanted:
            writer = TickWriter(
                self.root, instrument, index, session=self.session, rows_per_part=self.rows_per_part
            )
        self._writers[index] = writer
        return writer

    def flush(self) -> int:
        """Write everything buffered now, in the caller's thread (at shutdown)."""
        return self.write(self.take())

    async def run(self) -> None:
        """Write the buffers every ``flush_s`` (sooner when one is full) until cancelled; the
        buffer left at cancellation is written before returning."""
        writing: Future[int] | None = None
        taken = _Buffer()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder") as pool:
            try:
                while True:
                    await wait_event(self._full, self.flush_s)  # (never wait_for: event_wait)
                    taken = self.take()
                    if taken and not self.failed and (reason := self.room_left()):
                        # Recording stops first, before the disk is full: the journal (fills,
                        # exits) needs the room more than the tick history does.
                        self.stop(reason)
                    if self.failed:
                        # Stopped (what was taken is dropped). The task stays, idle: a task of
                        # the engine that ends is a fault, and trading goes on.
                        writing = None
                        await asyncio.get_running_loop().create_future()
                    if taken:
                        writing = pool.submit(self.write, taken)
                        try:
                            await asyncio.wrap_future(writing)
                        except OSError as exc:
                            # A full or broken disk stops the recording, never the engine
                            # (live trading goes on); the buffer stops growing too.
                            self.stop(f"{type(exc).__name__}: {exc}")
                            writing = None
            finally:
                # Shutdown (Ctrl+C, SIGTERM): the write under way ends first, so parts stay in
                # order, then the open buffer is written too.
                try:
                    if writing is not None and writing.cancelled() and not self.failed:
                        self.write(taken)  # cancelled before the worker started: not written
                    elif writing is not None and not writing.cancelled():
                        writing.result()
                    if not self.failed:
                        self.flush()
                except OSError as exc:
                    log.error("recorder: the last buffer could not be written: %s", exc)


def recording_root(settings: Settings) -> Path:
    """``[recorder] dir``, else ``<data.dir>/ticks`` (see :func:`store_root`)."""
    return store_root(settings.data.dir, settings.recorder.dir)


def build_recorder(settings: Settings, market: MarketState) -> Recorder | None:
    """The engine's recorder when ``[recorder] enabled``, else None."""
    recorder = settings.recorder
    if not recorder.enabled:
        return None
    return Recorder(
        recording_root(settings),
        market,
        instrument_ids=recorder.instruments,
        rows_per_part=recorder.rows_per_part,
        flush_s=recorder.flush_s,
    )


def recording_step(step: Step, recorder: Recorder) -> Step:
    """``step`` (a market source: append events up to a time) that also records what it made."""

    def recorded(until_ns: int, batch: MarketBatch) -> None:
        start = len(batch.kind)
        step(until_ns, batch)
        if len(batch.kind) > start:
            recorder.on_batch(batch if not start else _tail(batch, start), until_ns)

    return recorded


def _tail(batch: MarketBatch, start: int) -> MarketBatch:
    tail = MarketBatch()
    tail.kind = batch.kind[start:]
    tail.instrument = batch.instrument[start:]
    tail.side = batch.side[start:]
    tail.price = batch.price[start:]
    tail.size = batch.size[start:]
    tail.ts_event = batch.ts_event[start:]
    return tail


def _remove_leftovers(root: Path) -> int:
    """Delete temporary part files a crash left behind (never complete, never read)."""
    removed = 0
    if root.is_dir():
        for leftover in root.glob("venue=*/instrument=*/date=*/.part-*.tmp"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
