"""Walk-forward and Monte Carlo runs in their own process, for the engine (never on its loop).

:class:`ResearchWorker` spawns one process that runs :func:`walkforward_main` (the windows of
:func:`engine.optimize.walkforward.run_walkforward`, each reported as it finishes) or
:func:`montecarlo_main` (:func:`engine.optimize.montecarlo.simulate` on a stored result, plus the
percentile fan of :func:`equity_fan`). It reports over a queue: ``("window", json)`` per finished
walk-forward window, then ``("done", json)`` or ``("error", message)``. Cancelling terminates the
process: a walk-forward's finished trials are stored, so the same name resumes it (its trial
workers die with it, see :mod:`engine.worker_lifetime`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from engine.config.settings import Settings
from engine.optimize.study import StudySpec

if TYPE_CHECKING:
    import numpy as np

_CONTEXT = multiprocessing.get_context("spawn")
FAN_PERCENTILES = (5, 25, 50, 75, 95)
FAN_POINTS = 200
"""Most points of each fan curve (trade numbers spread evenly from the start to the last)."""


class WalkForwardJob(msgspec.Struct, frozen=True, kw_only=True):
    """What a walk-forward process runs."""

    spec: StudySpec
    root: str
    name: str
    train: int
    test: int
    mode: str
    jobs: int


class MonteCarloJob(msgspec.Struct, frozen=True, kw_only=True):
    """What a Monte Carlo process runs."""

    results_dir: str
    result_id: str
    runs: int
    method: str
    seed: int
    ruin: float


class Fan(msgspec.Struct, frozen=True, kw_only=True):
    """Equity percentiles after each trade (``x``: trade numbers, 0 the start)."""

    percentiles: list[int]
    x: list[int]
    curves: list[list[float]]
    runs: int


class MonteCarloOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A finished Monte Carlo run: the summary of ``simulate`` (as builtins) and the fan."""

    summary: dict[str, Any]
    fan: Fan
    currency: str


def equity_fan(
    pnls: np.ndarray, initial_equity: float, *, runs: int, method: str, seed: int
) -> Fan:
    """Percentiles of the equity after each trade over the simulated runs.

    The runs are drawn as :func:`~engine.optimize.montecarlo.simulate` draws its first block
    (same generator, seed and block size), so for runs up to ``BLOCK_CELLS / trades`` the fan
    and the summary come from the very same runs; beyond that the fan uses the first block.
    """
    import numpy as np  # the engine imports this module; numpy is only needed in the worker

    from engine.optimize.montecarlo import BLOCK_CELLS

    count = len(pnls)
    size = min(runs, max(1, BLOCK_CELLS // max(1, count)))
    rng = np.random.default_rng(seed)
    if method == "shuffle":
        sample = rng.permuted(np.broadcast_to(pnls, (size, count)), axis=1)
    else:
        sample = pnls[rng.integers(0, count, size=(size, count))]
    equity = np.concatenate(
        [np.full((size, 1), initial_equity), initial_equity + np.cumsum(sample, axis=1)], axis=1
    )
    x = np.unique(np.linspace(0, count, num=min(FAN_POINTS, count + 1)).round().astype(int))
    bands = np.percentile(equity[:, x], FAN_PERCENTILES, axis=0)
    return Fan(
        percentiles=list(FAN_PERCENTILES),
        x=[int(v) for v in x],
        curves=[[float(v) for v in band] for band in bands],
        runs=size,
    )


def walkforward_main(job_json: bytes, settings_json: bytes, out: Any, parent_pid: int) -> None:
    from engine.worker_lifetime import die_with_parent

    die_with_parent(parent_pid)
    from engine.optimize.walkforward import run_walkforward
    from engine.strategy.loader import StrategyLoadError

    job = msgspec.json.decode(job_json, type=WalkForwardJob)
    settings = msgspec.json.decode(settings_json, type=Settings)
    try:
        result = run_walkforward(
            job.spec,
            settings,
            Path(job.root),
            job.name,
            train=job.train,
            test=job.test,
            mode=job.mode,
            jobs=job.jobs,
            on_window=lambda window: out.put(("window", msgspec.json.encode(window))),
        )
    except (ValueError, StrategyLoadError, OSError) as exc:
        out.put(("error", str(exc)))
        return
    except Exception as exc:  # a bug: still one clear line for the engine
        out.put(("error", f"walk-forward failed: {type(exc).__name__}: {exc}"))
        return
    out.put(("done", msgspec.json.encode(result)))


def montecarlo_main(job_json: bytes, settings_json: bytes, out: Any, parent_pid: int) -> None:
    from engine.worker_lifetime import die_with_parent

    die_with_parent(parent_pid)
    from engine.backtest.results import load_result
    from engine.optimize.montecarlo import simulate, trade_pnls

    job = msgspec.json.decode(job_json, type=MonteCarloJob)
    try:
        stored = load_result(Path(job.results_dir), job.result_id)
        pnls = trade_pnls(stored.trades)
        initial = float(stored.summary.initial_equity)
        result = simulate(
            pnls, initial, runs=job.runs, method=job.method, seed=job.seed, ruin_fraction=job.ruin
        )
        fan = equity_fan(pnls, initial, runs=job.runs, method=job.method, seed=job.seed)
    except (ValueError, OSError) as exc:
        out.put(("error", str(exc)))
        return
    except Exception as exc:  # a bug: still one clear line for the engine
        out.put(("error", f"Monte Carlo failed: {type(exc).__name__}: {exc}"))
        return
    outcome = MonteCarloOutcome(
        summary=msgspec.to_builtins(result.summary), fan=fan, currency=stored.summary.currency
    )
    out.put(("done", msgspec.json.encode(outcome)))


class ResearchWorker:
    """One walk-forward or Monte Carlo run in its own process (see the module docstring)."""

    def __init__(
        self,
        target: Callable[[bytes, bytes, Any, int], None],
        job: WalkForwardJob | MonteCarloJob,
        settings: Settings,
        name: str,
    ) -> None:
        self._queue = _CONTEXT.Queue()
        self._process: SpawnProcess = _CONTEXT.Process(
            target=target,
            args=(
                msgspec.json.encode(job),
                msgspec.json.encode(settings),
                self._queue,
                os.getpid(),
            ),
            name=name,
            daemon=False,  # a walk-forward's trial pool: daemons may not have children
        )
        self.done: bytes | None = None
        self.error: str | None = None
        self.cancelled = False

    def start(self) -> None:
        self._process.start()

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None or self.cancelled

    def poll(self) -> list[tuple[str, bytes | str]]:
        """``("window" | "done", json)`` or ``("error", message)`` since the last poll."""
        updates: list[tuple[str, bytes | str]] = []
        while not self.finished:
            try:
                kind, body = self._queue.get_nowait()
            except queue.Empty:
                if not self._process.is_alive() and self._queue.empty():
                    self.error = f"worker exited with code {self._process.exitcode}"
                    updates.append(("error", self.error))
                break
            if kind == "error":
                self.error = str(body)
            elif kind == "done":
                self.done = body
            updates.append((kind, body))
        if self.finished:
            self._process.join(timeout=0)  # reap it if it has gone; never wait on the loop
        return updates

    def cancel(self) -> None:
        """Stop the run now (the engine publishes ``cancelled``)."""
        self.cancelled = True
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=0)

    def kill(self, timeout: float = 5.0) -> None:
        """Engine shutdown: stop and wait for the process."""
        self.cancel()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
