"""An optimization in its own process, for the engine (never on its event loop).

:class:`OptimizeWorker` spawns a driver process that opens the study, runs it with a
:class:`~engine.optimize.executors.LocalExecutor` (its own pool when ``jobs`` > 1, so the process
is not a daemon: daemons may not have children) and reports over a queue: ``("progress",
json)`` after finished trials (at most a few times a second), then ``("done", json)`` or
``("error", message)``. :meth:`OptimizeWorker.cancel` sets an event the driver checks after each
trial: it stops cleanly and the study stays resumable.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings
from engine.optimize.study import StudySpec
from engine.protocol.optimize import TrialInfo

_CONTEXT = multiprocessing.get_context("spawn")
REPORT_EVERY_S = 0.25
LEADERS = 10


class RunNews(msgspec.Struct, kw_only=True):
    """What the driver process reports (progress and the end are the same shape)."""

    done: int
    total: int
    evaluated: int
    leaderboard: list[TrialInfo]
    state: str = "running"
    stopped: str = ""


def trial_info(record: Any) -> TrialInfo:
    m = record.metrics
    return TrialInfo(
        params=dict(record.params),
        score=record.score,
        total_return=None if m is None else m.total_return,
        max_drawdown=None if m is None else m.max_drawdown,
        trades=None if m is None else m.trades,
        reason=record.reason,
    )


def _news(progress: Any, state: str = "running", stopped: str = "") -> bytes:
    return msgspec.json.encode(
        RunNews(
            done=progress.done,
            total=progress.total,
            evaluated=progress.evaluated,
            leaderboard=[trial_info(r) for r in progress.leaderboard[:LEADERS]],
            state=state,
            stopped=stopped,
        )
    )


def _driver_main(
    spec_json: bytes,
    settings_json: bytes,
    root: str,
    name: str,
    jobs: int,
    out: Any,
    stop: Any,
    parent_pid: int,
) -> None:
    from engine.worker_lifetime import die_with_parent

    die_with_parent(parent_pid)  # the engine killed -9: stop here (its pool follows this process)
    from engine.optimize.driver import RecheckFailed, run_study, space_of
    from engine.optimize.executors import LocalExecutor
    from engine.optimize.study import Study
    from engine.strategy.loader import StrategyLoadError, load_strategy_class

    try:
        spec = msgspec.json.decode(spec_json, type=StudySpec)
        settings = msgspec.json.decode(settings_json, type=Settings)
        space = space_of(spec, load_strategy_class(spec.strategy_file, spec.strategy_class))
        study = Study.open(Path(root), name, spec)
    except (ValueError, StrategyLoadError, OSError) as exc:
        out.put(("error", str(exc)))
        return
    last = [0.0]

    def on_trial(record: Any, progress: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            out.put(("progress", _news(progress)))

    state = "failed"
    try:
        executor = LocalExecutor(spec, settings, jobs)
        try:
            report = run_study(study, space, executor, on_trial=on_trial, should_stop=stop.is_set)
        finally:
            executor.close()
        state = report.state
        end = "done" if report.state == "finished" else "cancelled"
        out.put(("done", _news(report.progress, end, report.stopped)))
    except RecheckFailed as exc:
        out.put(("error", str(exc)))
    except Exception as exc:  # a bug: still one clear line for the engine
        out.put(("error", f"optimization failed: {type(exc).__name__}: {exc}"))
    finally:
        study.close(state)


class OptimizeWorker:
    """One optimization in its own process (see the module docstring)."""

    def __init__(
        self, spec: StudySpec, settings: Settings, root: Path, name: str, jobs: int
    ) -> None:
        self._queue = _CONTEXT.Queue()
        self._stop = _CONTEXT.Event()
        self._process: SpawnProcess = _CONTEXT.Process(
            target=_driver_main,
            args=(
                msgspec.json.encode(spec),
                msgspec.json.encode(settings),
                str(root),
                name,
                jobs,
                self._queue,
                self._stop,
                os.getpid(),
            ),
            name="stom-optimize",
            daemon=False,
        )
        self.result: RunNews | None = None
        self.error: str | None = None

    def start(self) -> None:
        self._process.start()

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def poll(self) -> list[tuple[str, RunNews | str]]:
        """``("progress" | "done", news)`` or ``("error", message)`` since the last poll."""
        updates: list[tuple[str, RunNews | str]] = []
        while not self.finished:
            try:
                kind, body = self._queue.get_nowait()
            except queue.Empty:
                if not self._process.is_alive() and self._queue.empty():
                    self.error = f"optimization worker exited with code {self._process.exitcode}"
                    updates.append(("error", self.error))
                break
            if kind == "error":
                self.error = str(body)
                updates.append(("error", self.error))
            else:
                news = msgspec.json.decode(body, type=RunNews)
                if kind == "done":
                    self.result = news
                updates.append((kind, news))
        if self.finished:
            # Reap it if it has gone; never wait here: this runs on the engine's loop.
            self._process.join(timeout=0)
        return updates

    def cancel(self) -> None:
        """Ask the driver to stop after the running trials (the study stays resumable)."""
        self._stop.set()

    def kill(self, timeout: float = 10.0) -> None:
        """Cancel and wait; terminate when the driver does not stop in time (engine shutdown)."""
        self._stop.set()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
