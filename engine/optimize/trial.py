"""One trial: a parameter set backtested in a worker, with the dataset kept in memory.

A worker (a pool process or a Ray actor) builds one :class:`TrialEvaluator` and runs many trials
with it. The evaluator loads the strategy file once and reads each recorded day from Parquet
once (:class:`MemoryTickStore`): later trials replay the same in-memory frames, so a sweep pays
for the disk and the decoding one time per worker instead of once per parameter set.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import msgspec
import polars as pl

from engine.backtest.request import BacktestRequest
from engine.config.settings import Settings
from engine.optimize.objective import TrialMetrics, trial_metrics
from engine.optimize.study import StudySpec
from engine.storage.tick_store import PartFile, TickStore


class TrialTask(msgspec.Struct, frozen=True):
    """A parameter set to evaluate (``key``: its canonical text, see ``params_key``)."""

    key: str
    params: dict[str, int | float]


class TrialOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker sends back: the metrics, or the error that stopped the backtest."""

    key: str
    params: dict[str, int | float]
    metrics: TrialMetrics | None
    error: str
    wall_s: float


MAX_CACHED_ROWS = 5_000_000
"""Rows a worker keeps in memory (about 0.3 GB); later days are read from Parquet each time."""


class MemoryTickStore(TickStore):
    """A tick store that keeps the days it has read, up to :data:`MAX_CACHED_ROWS` (polars
    frames are immutable, so trials can share them)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._days: dict[tuple[str, date, bool], pl.DataFrame] = {}
        self._parts: dict[tuple[str, date], list[PartFile]] = {}
        self._rows = 0

    def parts(self, instrument_id: str, day: date) -> list[PartFile]:
        key = (instrument_id, day)
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = super().parts(instrument_id, day)
        return found

    def read_day(self, instrument_id: str, day: date, *, has_book: bool) -> pl.DataFrame:
        key = (instrument_id, day, has_book)
        frame = self._days.get(key)
        if frame is None:
            frame = super().read_day(instrument_id, day, has_book=has_book)
            if self._rows + frame.height <= MAX_CACHED_ROWS:
                self._days[key] = frame
                self._rows += frame.height
        return frame


class TrialEvaluator:
    """Runs trials of one study in this process (see the module docstring)."""

    def __init__(self, spec: StudySpec, settings: Settings, *, cache: bool = True) -> None:
        from engine.strategy.loader import load_strategy_class

        self.spec = spec
        self.settings = settings
        self.strategy_cls = load_strategy_class(spec.strategy_file, spec.strategy_class)
        root = Path(spec.data_dir)
        self.store = MemoryTickStore(root) if cache else None

    def evaluate(self, task: TrialTask) -> TrialOutcome:
        """Backtest ``task.params``; a failure is an outcome (with its message), never raised."""
        from engine.backtest.run import run_backtest

        spec = self.spec
        started = time.perf_counter()
        try:
            request = BacktestRequest(
                strategy_file=spec.strategy_file,
                strategy_class=spec.strategy_class,
                data_dir=spec.data_dir,
                results_dir=spec.data_dir,  # unused: trials are not saved as backtest results
                params=task.params,
                instruments=list(spec.instruments),
                start=spec.start,
                end=spec.end,
                result_id="trial",
            )
            result = run_backtest(
                request, self.settings, strategy_cls=self.strategy_cls, store=self.store
            )
            summary = result.summary
            error = ""
            if summary.strategy_state != "running":
                error = f"strategy {summary.strategy_state}"
            metrics: TrialMetrics | None = trial_metrics(summary)
        except (ValueError, OSError) as exc:
            metrics, error = None, str(exc)
        except Exception as exc:  # a strategy bug: the trial fails, the study goes on
            metrics, error = None, f"{type(exc).__name__}: {exc}"
        return TrialOutcome(
            key=task.key,
            params=task.params,
            metrics=metrics if not error else None,
            error=error,
            wall_s=round(time.perf_counter() - started, 4),
        )
