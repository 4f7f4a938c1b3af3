"""All-or-nothing, idempotent writes into the tick store for one import unit.

An import unit (one input file, or one table of a STOM database) is written as part files into a
hidden staging folder under the store root, with a *session* number derived from the input's
content, so that:

- a problem anywhere in the unit leaves the store untouched (the staging folder is removed);
- importing the same input again finds parts of its session in the store and adds nothing;
- a unit whose time range overlaps data already stored for the instrument on the same day (from
  a recording or another import) is refused, because a day replays its parts one after the other
  and two overlapping streams would interleave out of time order;
- an import cut short (a crash, Ctrl+C) leaves only its staging folder, which the next import of
  the same unit replaces: that is how it resumes.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from engine.domain.instrument import Instrument
from engine.importers.values import ImportProblem
from engine.storage.instrument_file import read_instrument, write_instrument
from engine.storage.tick_store import TickStore, TickWriter, instrument_folder

__all__ = ["ImportSession", "StagedResult", "content_session"]

STAGING_PREFIX = ".import-"


def content_session(*parts: bytes | str | Path) -> int:
    """A 19-digit session number from the content of files (read in 1 MiB blocks) and names."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, Path):
            with open(part, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        else:
            digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return int.from_bytes(digest.digest(), "big") % 10**19


@dataclass
class StagedResult:
    """What one unit put into the store."""

    instrument_id: str
    rows: int = 0
    events: int = 0
    days: list[date] = field(default_factory=list)
    already_imported: bool = False


class ImportSession:
    """Stages one unit's events for one instrument and commits them into the store."""

    def __init__(self, root: Path, instrument: Instrument, session: int) -> None:
        self.root = Path(root)
        self.instrument = instrument
        self.session = session
        self.iid = str(instrument.id)
        self.staging = self.root / f"{STAGING_PREFIX}{session:019d}"
        self._writer: TickWriter | None = None
        self.result = StagedResult(self.iid)

    def already_imported(self) -> bool:
        """True when parts of this session are in the store already (same input, same rules)."""
        folder = instrument_folder(self.root, self.iid)
        return any(folder.glob(f"date=*/part-*-{self.session:019d}-*.parquet"))

    def check_rules(self) -> None:
        """Refuse an instrument whose stored rules differ (prices would mean other things)."""
        folder = instrument_folder(self.root, self.iid)
        if not (folder / "instrument.json").exists():
            return
        stored = read_instrument(folder)
        if (stored.price_precision, stored.size_precision) != (
            self.instrument.price_precision,
            self.instrument.size_precision,
        ):
            raise ImportProblem(
                f"{self.iid}: the store keeps prices at {stored.price_precision} and sizes at "
                f"{stored.size_precision} decimals, this import has "
                f"{self.instrument.price_precision} and {self.instrument.size_precision}; pass "
                "--price-precision/--size-precision to match, or import into another --store"
            )

    def write(self, events: pl.DataFrame, rows: int) -> None:
        """Stage a batch of events (store columns, no ``snapshot``)."""
        if self._writer is None:
            shutil.rmtree(self.staging, ignore_errors=True)  # a cut-short earlier attempt
            self._writer = TickWriter(self.staging, self.instrument, 0, session=self.session)
        self._writer.write_frame(events)
        self.result.rows += rows
        self.result.events += events.height

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self) -> StagedResult:
        """Check for overlaps, then move the staged parts into the store."""
        try:
            if self._writer is None or not self.result.events:
                raise ImportProblem(f"{self.iid}: no events to import (every row was skipped)")
            staged = TickStore(self.staging)
            days = staged.days(self.iid)
            self._refuse_overlaps(staged, days)
            target = instrument_folder(self.root, self.iid)
            if not (target / "instrument.json").exists():
                write_instrument(target, self.instrument)
            for day in days:
                folder = target / f"date={day.isoformat()}"
                folder.mkdir(parents=True, exist_ok=True)
                for part in staged.parts(self.iid, day):
                    part.path.replace(folder / part.path.name)
            self.result.days = days
            return self.result
        finally:
            self.abandon()

    def _refuse_overlaps(self, staged: TickStore, days: list[date]) -> None:
        store = TickStore(self.root)
        if self.iid not in store.instrument_ids():
            return
        stored_days = set(store.days(self.iid))
        for day in days:
            if day not in stored_days:
                continue
            mine = _span([p.path for p in staged.parts(self.iid, day)])
            theirs = _span([p.path for p in store.parts(self.iid, day)])
            # Touching ends (the same timestamp) still replay in order: parts sort by first time.
            if mine[0] < theirs[1] and theirs[0] < mine[1]:
                raise ImportProblem(
                    f"{self.iid} already has data on {day.isoformat()} that overlaps this "
                    "import in time (a recording or another import); import into another "
                    "--store, or remove that day first"
                )


def _span(paths: list[Path]) -> tuple[int, int]:
    frame = (
        pl.scan_parquet(paths)
        .filter(~pl.col("snapshot"))
        .select(pl.col("ts_event").min().alias("a"), pl.col("ts_event").max().alias("b"))
        .collect()
    )
    return int(frame["a"][0] or 0), int(frame["b"][0] or 0)
