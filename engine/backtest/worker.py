"""Backtests in a worker process, never on the engine's event loop or the CLI's main thread.

The worker is a fresh (spawned) Python process: it loads the strategy file itself, runs
:func:`~engine.backtest.run.run_backtest`, stores the result under ``request.results_dir`` and
reports over a queue: ``("progress", rows_done, rows_total)`` now and then, then one of
``("done", summary_json)`` or ``("error", message)``.

Two ways to use it:

- :func:`run_in_worker` blocks until the run ends, calling ``on_progress(done, total)``
  (the CLI);
- :class:`BacktestWorker` starts the process and lets the caller :meth:`~BacktestWorker.poll`
  without blocking (the engine node: poll it from a task, publish progress on the bus).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

import msgspec

from engine.backtest.request import BacktestRequest, BacktestSummary
from engine.config.settings import Settings
from engine.worker_lifetime import die_with_parent

_CONTEXT = multiprocessing.get_context("spawn")


class BacktestFailed(Exception):
    """The worker reported an error (bad input, a broken strategy file) or died."""


@dataclass(frozen=True, slots=True)
class WorkerUpdate:
    """One message from the worker."""

    kind: str
    """``progress``, ``done`` or ``error``."""
    done: int = 0
    total: int = 0
    summary: BacktestSummary | None = None
    error: str = ""


def _worker_main(request_json: bytes, settings_json: bytes, out: Any, parent_pid: int) -> None:
    """Entry point of the worker process."""
    die_with_parent(parent_pid)  # a kill -9 of the CLI or engine ends the run, unsaved
    from engine.backtest.results import save_result
    from engine.backtest.run import run_backtest
    from engine.strategy.loader import StrategyLoadError

    try:
        request = msgspec.json.decode(request_json, type=BacktestRequest)
        settings = msgspec.json.decode(settings_json, type=Settings)
        last = [-1]

        def progress(done: int, total: int) -> None:
            if done != last[0]:
                last[0] = done
                out.put(("progress", done, total))

        result = run_backtest(request, settings, progress)
        path = save_result(result, request.results_dir)
        summary = msgspec.structs.replace(result.summary, id=path.name)
        out.put(("done", msgspec.json.encode(summary)))
    except (ValueError, StrategyLoadError, OSError) as exc:
        out.put(("error", str(exc)))
    except Exception as exc:  # a bug: still one clear line for the caller
        out.put(("error", f"backtest failed: {type(exc).__name__}: {exc}"))


class BacktestWorker:
    """One backtest in its own process (see the module docstring)."""

    def __init__(self, request: BacktestRequest, settings: Settings) -> None:
        self.request = request
        self._queue = _CONTEXT.Queue()
        self._process: SpawnProcess = _CONTEXT.Process(
            target=_worker_main,
            args=(
                msgspec.json.encode(request),
                msgspec.json.encode(settings),
                self._queue,
                os.getpid(),
            ),
            name="stom-backtest",
            daemon=True,
        )
        self.summary: BacktestSummary | None = None
        self.error: str | None = None

    def start(self) -> None:
        self._process.start()

    @property
    def finished(self) -> bool:
        return self.summary is not None or self.error is not None

    def poll(self, timeout: float = 0.0) -> list[WorkerUpdate]:
        """Messages since the last poll (waits up to ``timeout`` s for the first one)."""
        updates: list[WorkerUpdate] = []
        block = timeout > 0
        while not self.finished:
            try:
                message = self._queue.get(block, timeout if block else None)
            except queue.Empty:
                if not self._process.is_alive() and self._queue.empty():
                    self.error = f"backtest worker exited with code {self._process.exitcode}"
                    updates.append(WorkerUpdate("error", error=self.error))
                break
            block = False
            updates.append(self._update(message))
        if self.finished:
            # Reap it if it has gone; never wait here: this runs on the engine's loop.
            self._process.join(timeout=0)
        return updates

    def cancel(self) -> None:
        """Stop the run (nothing is stored)."""
        if self._process.is_alive():
            self._process.terminate()  # SIGTERM ends it at once; a short wait reaps it
            self._process.join(timeout=0.5)
            if self._process.is_alive():
                self._process.kill()
        if not self.finished:
            self.error = "cancelled"

    def _update(self, message: tuple[Any, ...]) -> WorkerUpdate:
        kind = message[0]
        if kind == "progress":
            return WorkerUpdate("progress", done=message[1], total=message[2])
        if kind == "done":
            self.summary = msgspec.json.decode(message[1], type=BacktestSummary)
            return WorkerUpdate("done", summary=self.summary)
        self.error = str(message[1])
        return WorkerUpdate("error", error=self.error)


def run_in_worker(
    request: BacktestRequest,
    settings: Settings,
    on_progress: Callable[[int, int], None] | None = None,
) -> BacktestSummary:
    """Run ``request`` in a worker process and wait; raises :class:`BacktestFailed`."""
    worker = BacktestWorker(request, settings)
    worker.start()
    try:
        while not worker.finished:
            for update in worker.poll(timeout=0.5):
                if update.kind == "progress" and on_progress is not None:
                    on_progress(update.done, update.total)
    finally:
        if not worker.finished:
            worker.cancel()
    if worker.summary is None:
        raise BacktestFailed(worker.error or "backtest failed")
    return worker.summary
