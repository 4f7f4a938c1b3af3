"""One trial: a parameter set evaluated in a worker, with the dataset kept in memory.

A worker (a pool process or a Ray actor) builds one :class:`TrialEvaluator` and runs many trials
with it. The evaluator loads the strategy file once and reads each recorded day from Parquet
once (:class:`MemoryTickStore`): later trials replay the same in-memory frames, so a sweep pays
for the disk and the decoding one time per worker instead of once per parameter set.

A strategy that declares the signal API runs on the vector path
(:mod:`engine.optimize.vector_path`); a trial it refuses, and every trial of any other strategy,
runs the full backtest (the event path). A task marked ``recheck`` that took the vector path is
also backtested, and the two runs' fills are compared one by one.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import msgspec
import polars as pl

from engine.backtest.request import BacktestRequest
from engine.backtest.trades import FillRecord
from engine.config.settings import Settings
from engine.optimize.objective import TrialMetrics, trial_metrics
from engine.optimize.study import StudySpec
from engine.optimize.vector_path import VectorPath, first_difference
from engine.optimize.vector_signals import VectorRefusal
from engine.storage.tick_store import PartFile, TickStore

EVENT = "event"
VECTOR = "vector"


class TrialTask(msgspec.Struct, frozen=True):
    """A parameter set to evaluate (``key``: its canonical text, see ``params_key``)."""

    key: str
    params: dict[str, bool | int | float | str]
    recheck: bool = False
    """On the vector path: also run the event path and compare the fills."""


class TrialOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker sends back: the metrics, or the error that stopped the backtest."""

    key: str
    params: dict[str, bool | int | float | str]
    metrics: TrialMetrics | None
    error: str
    wall_s: float
    path: str = EVENT
    """``vector`` or ``event``: how the metrics were computed."""
    path_reason: str = ""
    """Why the event path (the vector path's refusal), empty on the vector path."""
    trades: int = 0
    """Trades replayed (what the strategy saw); 0 when unknown."""
    recheck: str = ""
    """Empty: not re-checked; ``identical``; or the first differing fill, named."""
    recheck_fills: int = 0
    """Fills compared by the re-check."""

    @property
    def trades_per_s(self) -> float:
        return self.trades / self.wall_s if self.wall_s > 0 else 0.0


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
        self.vector = VectorPath(
            self.strategy_cls, settings, spec.data_dir, spec.instruments, spec.start, spec.end
        )

    def evaluate(self, task: TrialTask) -> TrialOutcome:
        """Evaluate ``task.params``; a failure is an outcome (with its message), never raised."""
        started = time.perf_counter()
        reason = self.vector.refusal()
        if reason is None:
            try:
                result = self.vector.run(task.params)
            except VectorRefusal as exc:
                reason = str(exc)
            except Exception as exc:  # a bug in signals(): the event path decides the trial
                reason = f"signals() failed: {type(exc).__name__}: {exc}"
            else:
                recheck, compared = "", 0
                if task.recheck:
                    recheck, compared = self._recheck(task, result.fills)
                return TrialOutcome(
                    key=task.key,
                    params=task.params,
                    metrics=result.metrics,
                    error="",
                    wall_s=round(result.wall_s, 4),
                    path=VECTOR,
                    trades=result.trades,
                    recheck=recheck,
                    recheck_fills=compared,
                )
        metrics, error, _ = self._backtest(task)
        return TrialOutcome(
            key=task.key,
            params=task.params,
            metrics=metrics if not error else None,
            error=error,
            wall_s=round(time.perf_counter() - started, 4),
            path=EVENT,
            path_reason=reason,
            trades=self.vector.trade_count(),
        )

    def _recheck(self, task: TrialTask, fills: list[FillRecord]) -> tuple[str, int]:
        """The event path's fills against ``fills``: ``identical`` or the first difference."""
        _, error, event_fills = self._backtest(task)
        if error:
            return f"the event path failed: {error}", 0
        difference = first_difference(fills, event_fills)
        return difference or "identical", max(len(fills), len(event_fills))

    def _backtest(self, task: TrialTask) -> tuple[TrialMetrics | None, str, list[FillRecord]]:
        """The full backtest (the event path): metrics, error text, fills."""
        from engine.backtest.run import run_backtest

        spec = self.spec
        fills: list[FillRecord] = []
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
            fills = result.fills
            error = ""
            if summary.strategy_state != "running":
                error = f"strategy {summary.strategy_state}"
            metrics: TrialMetrics | None = trial_metrics(summary)
        except (ValueError, OSError) as exc:
            metrics, error = None, str(exc)
        except Exception as exc:  # a strategy bug: the trial fails, the study goes on
            metrics, error = None, f"{type(exc).__name__}: {exc}"
        return metrics, error, fills
