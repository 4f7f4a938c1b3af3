"""Where trials run: one interface, two engines.

- :class:`LocalExecutor`: a pool of ``jobs`` spawned processes on this machine (all cores by
  default); each process builds one :class:`~engine.optimize.trial.TrialEvaluator` in its
  initializer, so the strategy file is loaded and the dataset read once per process. With
  ``jobs=1`` trials run in this process (no pool to start).
- :class:`RayExecutor` (``pip install -e '.[ray]'``): one Ray actor per worker, each holding its
  evaluator; connects to ``address`` (a cluster) or starts a local Ray instance.

``run(tasks)`` yields outcomes as they finish (in any order); the driver stores each at once and
only uses a batch's outcomes once the whole batch is in, keyed by parameter set, so the search
follows the same path whatever the order of arrival. Once ``stop()`` (the driver's: a Ctrl+C)
is true, ``run`` starts nothing more: the trials already running finish and are yielded, the
queued ones are dropped. ``close()`` drops unfinished work.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Protocol

import msgspec

from engine.config.settings import Settings
from engine.optimize.study import StudySpec
from engine.optimize.trial import TrialEvaluator, TrialOutcome, TrialTask
from engine.worker_lifetime import die_with_parent


class Executor(Protocol):
    """Runs trials; see the module docstring."""

    workers: int

    def run(
        self, tasks: Sequence[TrialTask], stop: Callable[[], bool] | None = None
    ) -> Generator[TrialOutcome]: ...
    def close(self) -> None: ...


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


_EVALUATOR: TrialEvaluator | None = None


def _init_worker(spec_json: bytes, settings_json: bytes, parent_pid: int) -> None:
    global _EVALUATOR
    die_with_parent(parent_pid)  # the driver killed -9: no trial runs on without it
    # Ctrl+C goes to the whole process group: the driver decides what stops, not each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = msgspec.json.decode(spec_json, type=StudySpec)
    settings = msgspec.json.decode(settings_json, type=Settings)
    _EVALUATOR = TrialEvaluator(spec, settings)


def _evaluate(task: TrialTask) -> TrialOutcome:
    assert _EVALUATOR is not None, "worker initializer did not run"
    return _EVALUATOR.evaluate(task)


class LocalExecutor:
    """Trials on this machine's cores (see the module docstring)."""

    def __init__(self, spec: StudySpec, settings: Settings, jobs: int | None = None) -> None:
        self.workers = jobs or default_jobs()
        if self.workers < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self._inline: TrialEvaluator | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self.workers == 1:
            self._inline = TrialEvaluator(spec, settings)
        else:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(msgspec.json.encode(spec), msgspec.json.encode(settings), os.getpid()),
            )

    def run(
        self, tasks: Sequence[TrialTask], stop: Callable[[], bool] | None = None
    ) -> Generator[TrialOutcome]:
        if self._inline is not None:
            for task in tasks:
                if stop is not None and stop():
                    return
                yield self._inline.evaluate(task)
            return
        assert self._pool is not None
        pending: set[Future[TrialOutcome]] = {self._pool.submit(_evaluate, t) for t in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                if stop is not None and stop():
                    # Drop the queued trials; the running ones (cancel fails) finish.
                    pending = {future for future in pending if not future.cancel()}
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Trials on Ray actors (see the module docstring)."""

    def __init__(
        self,
        spec: StudySpec,
        settings: Settings,
        jobs: int | None = None,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError(
                "the Ray executor needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9')"
            ) from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                options["address"] = address
            else:
                options["num_cpus"] = jobs or default_jobs()
            ray.init(**options)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = jobs or max(1, cpus)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        spec_json, settings_json = msgspec.json.encode(spec), msgspec.json.encode(settings)
        # Any: ray types an actor handle's methods only through its own decorators.
        self._actors: list[Any] = [
            actor.remote(spec_json, settings_json) for _ in range(self.workers)
        ]

    def run(
        self, tasks: Sequence[TrialTask], stop: Callable[[], bool] | None = None
    ) -> Generator[TrialOutcome]:
        ray = self._ray
        queue = list(reversed(tasks))
        running: dict[Any, Any] = {}
        idle = list(self._actors)
        try:
            while queue or running:
                while queue and idle:
                    actor = idle.pop()
                    running[actor.evaluate.remote(msgspec.json.encode(queue.pop()))] = actor
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    idle.append(running.pop(ref))
                    yield msgspec.json.decode(ray.get(ref), type=TrialOutcome)
                if stop is not None and stop():
                    queue.clear()  # the running trials finish; the queued ones are dropped
        finally:
            for ref in running:
                ray.cancel(ref)

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False


class _RayWorker:
    """A Ray actor holding one evaluator (payloads cross as JSON: no pickled engine types)."""

    def __init__(self, spec_json: bytes, settings_json: bytes) -> None:
        spec = msgspec.json.decode(spec_json, type=StudySpec)
        settings = msgspec.json.decode(settings_json, type=Settings)
        self._evaluator = TrialEvaluator(spec, settings)

    def evaluate(self, task_json: bytes) -> bytes:
        task = msgspec.json.decode(task_json, type=TrialTask)
        return msgspec.json.encode(self._evaluator.evaluate(task))
