"""A deterministic sample dataset from the market simulator, written as a recording would be.

Each day is one session of ``session_minutes`` starting at ``session_start_utc`` (default 00:00
UTC, 09:00 in Seoul: the KRX open), from a fresh simulator seeded by ``seed`` and the day's
number, so any day can be regenerated alone and the same arguments give the same files. Events
are written with :class:`~engine.storage.tick_store.TickWriter` in batches of ``step_ms`` of
simulated time, with ``ts_init`` the batch's time, exactly as the engine records its own feed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from engine.domain.market_data import MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.storage.tick_store import TickWriter, day_start_ns

NS_PER_MS = 1_000_000
DAY_SEED_STRIDE = 1_000_003
"""Seeds of consecutive days are this far apart (any fixed odd stride works)."""


@dataclass
class SampleReport:
    """What :func:`write_sample` wrote."""

    root: Path
    instruments: list[str]
    days: list[date]
    rows: dict[str, int] = field(default_factory=dict)
    """Events written per instrument."""
    parts: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def write_sample(
    root: Path,
    *,
    symbols: Sequence[str],
    days: int,
    first_day: date,
    session_minutes: float,
    rate: float,
    seed: int,
    step_ms: float = 5.0,
    book_depth: int = 20,
    session_start_utc: timedelta = timedelta(0),
    progress: Callable[[int, int], None] | None = None,
) -> SampleReport:
    """Write ``days`` sessions of ``symbols`` under ``root``; unknown symbols raise ValueError."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if session_minutes <= 0:
        raise ValueError(f"session minutes must be positive, got {session_minutes}")
    if step_ms <= 0:
        raise ValueError(f"step must be positive, got {step_ms} ms")
    try:
        instruments = [sim_instrument(symbol) for symbol in symbols]
    except KeyError as exc:
        raise ValueError(str(exc.args[0]) if exc.args else str(exc)) from None
    report = SampleReport(Path(root), [str(i.id) for i in instruments], [])
    step = int(step_ms * NS_PER_MS)
    for number in range(days):
        day = first_day + timedelta(days=number)
        start = day_start_ns(day) + int(session_start_utc.total_seconds()) * 1_000_000_000
        end = start + int(session_minutes * 60 * 1_000_000_000)
        simulator = MarketSimulator(
            instruments,
            list(range(len(instruments))),
            seed=seed + number * DAY_SEED_STRIDE,
            rate=rate,
            book_depth=book_depth,
            start_ns=start,
        )
        writers = [
            TickWriter(root, instrument, index, session=start)
            for index, instrument in enumerate(instruments)
        ]
        batch = MarketBatch()
        simulator.snapshot(batch)
        now = start
        while True:
            for writer in writers:
                writer.append_batch(batch, now)
            batch.clear()
            if now >= end:
                break
            now = min(now + step, end)
            simulator.step(now, batch)
            if progress is not None and now % (60 * 1_000_000_000) < step:
                progress(number * (end - start) + now - start, days * (end - start))
        for writer in writers:
            writer.close()
            report.rows[str(writer.instrument.id)] = (
                report.rows.get(str(writer.instrument.id), 0) + writer.rows_written
            )
            report.parts += writer.parts_written
        report.days.append(day)
    return report
