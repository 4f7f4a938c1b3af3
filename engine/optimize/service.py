"""Optimizations asked for over the bus: ``optimize.run`` / ``optimize.cancel`` /
``optimize.list``.

A run is a driver process (:class:`~engine.optimize.worker.OptimizeWorker`) with its own pool;
the engine only polls its queue a few times a second and publishes the progress and leaderboard,
retained, at ``optimize/progress``. One run at a time. Studies are stored under
``<data.dir>/optimize`` (the same files ``stom optimize`` writes: a study started in the console
can be resumed on the command line and the other way round). Applying a result to a running
strategy is the existing ``strategy.params`` command.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from engine.backtest.service import tick_root
from engine.commands import CommandRejected, CommandRouter
from engine.config.settings import Settings
from engine.optimize.study import (
    StudySpec,
    check_name,
    default_study_name,
    list_studies,
    read_spec,
    read_trials,
)
from engine.optimize.worker import OptimizeWorker, RunNews, trial_info
from engine.outbox import Outbox
from engine.protocol import optimize as o
from engine.protocol import results as r
from engine.protocol.commands import NoArgs, OptimizeRunArgs
from engine.protocol.topics import Topics
from engine.strategy.loader import resolve
from engine.worker_service import WorkerService

log = logging.getLogger("stom.optimize")

MAX_TRIALS = 100_000


def studies_root(settings: Settings) -> Path:
    return Path(settings.data.dir).expanduser() / "optimize"


def engine_jobs() -> int:
    """Cores for an engine-started run: all but one (the engine keeps one for trading)."""
    return max(1, (os.cpu_count() or 2) - 1)


class OptimizeService(WorkerService):
    """Runs optimizations in a worker process for bus commands (see the module docstring)."""

    def __init__(
        self, settings: Settings, outbox: Outbox, topics: Topics, now_ns: Callable[[], int]
    ) -> None:
        super().__init__(settings, outbox, topics, now_ns)
        self.root = studies_root(settings)
        self._worker: OptimizeWorker | None = None
        self._spec: StudySpec | None = None
        self._study = ""

    def register(self, commands: CommandRouter) -> None:
        commands.register("optimize.run", self._cmd_run)
        commands.register("optimize.cancel", self._cmd_cancel)
        commands.register("optimize.list", self._cmd_list)

    def poll(self) -> None:
        worker = self._worker
        if worker is None:
            return
        for kind, body in worker.poll():
            if isinstance(body, RunNews):
                state = "running" if kind == "progress" else body.state
                self._publish(state, body)  # type: ignore[arg-type]
                if kind == "done":
                    best = body.leaderboard[0] if body.leaderboard else None
                    log.info(
                        "optimization %s %s: %d trials, best %s",
                        self._run_id,
                        body.state,
                        body.done,
                        best.params if best is not None and best.score is not None else "none",
                    )
            else:
                log.warning("optimization %s failed: %s", self._run_id, body)
                self._publish("failed", None, error=body)

    def stop(self) -> None:
        """Engine shutdown: stop the run (cleanly when it can)."""
        if self.running and self._worker is not None:
            self._worker.kill(timeout=5)

    def _publish(
        self, state: o.OptimizeStateText, news: RunNews | None, *, error: str | None = None
    ) -> None:
        spec = self._spec
        progress = o.OptimizeProgress(
            ts=self.now_ns(),
            run_id=self._run_id,
            study=self._study,
            strategy=self._strategy,
            method=spec.method if spec else "",
            objective=spec.objective if spec else "",
            state=state,
            done=news.done if news else 0,
            total=news.total if news else (spec.trials if spec else 0),
            evaluated=news.evaluated if news else 0,
            leaderboard=news.leaderboard if news else [],
            stopped=news.stopped if news else "",
            error=error,
        )
        self.outbox.publish(self.topics.optimize_progress, progress)

    # --- commands -----------------------------------------------------------------------------

    async def _cmd_run(self, args: OptimizeRunArgs) -> r.StudyRunResult:
        if self.running:
            raise CommandRejected(
                f"optimization {self._run_id} is still running; wait or optimize.cancel it"
            )
        spec, name = self._spec_from(args)
        jobs = engine_jobs() if args.jobs is None else args.jobs
        try:
            await asyncio.to_thread(self._check, spec)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        self._run_id = f"opt{next(self._runs)}"
        self._spec, self._study = spec, name
        self._strategy = Path(spec.strategy_file).name
        self._worker = OptimizeWorker(spec, self.settings, self.root, name, jobs)
        self._worker.start()
        self.wake()
        self._publish("starting", None)
        log.info("optimization %s started: study %s, %s jobs", self._run_id, name, jobs)
        return r.StudyRunResult(run_id=self._run_id, study=name)

    def _spec_from(self, args: OptimizeRunArgs) -> tuple[StudySpec, str]:
        """The study to run: a stored one to resume, or a new one from the arguments (their
        types and ranges were checked when the command was decoded)."""
        if args.resume:
            try:
                return read_spec(self.root, args.resume), args.resume
            except ValueError as exc:
                raise CommandRejected(str(exc)) from None
        if args.strategy is None:
            raise CommandRejected("strategy: give a strategy file, or resume a study")
        path = resolve(self.settings.strategies.dir, args.strategy)
        if not path.is_file():
            raise CommandRejected(f"strategy: {path} does not exist")
        spec = _new_spec(args, str(path), str(tick_root(self.settings)))
        name = args.study or default_study_name(spec)
        try:
            check_name(name)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        return spec, name

    @staticmethod
    def _check(spec: StudySpec) -> None:
        """The same checks the CLI makes, before a process is spent on them."""
        from engine.optimize.driver import check_spec, space_of
        from engine.strategy.loader import StrategyLoadError, load_strategy_class

        try:
            cls = load_strategy_class(spec.strategy_file, spec.strategy_class)
        except StrategyLoadError as exc:
            raise ValueError(str(exc)) from None
        check_spec(spec, space_of(spec, cls))

    async def _cmd_cancel(self, args: NoArgs) -> r.StudyRunResult:
        if not self.running or self._worker is None:
            raise CommandRejected("no optimization is running")
        self._worker.cancel()
        return r.StudyRunResult(run_id=self._run_id, study=self._study)

    async def _cmd_list(self, args: NoArgs) -> r.StudyListResult:
        listings = await asyncio.to_thread(self.studies)
        return r.StudyListResult(studies=listings)

    def studies(self) -> list[o.StudyListing]:
        from engine.optimize.objective import rank_key

        found = []
        for name in list_studies(self.root):
            try:
                spec = read_spec(self.root, name)
                trials = read_trials(self.root, name)
            except (ValueError, OSError, msgspec.DecodeError) as exc:
                log.warning("study %s unreadable: %s", name, exc)
                continue
            ranked = sorted(trials, key=lambda r: (-rank_key(r.score), r.key))
            best = ranked[0] if ranked and ranked[0].score is not None else None
            found.append(
                o.StudyListing(
                    study=name,
                    strategy=Path(spec.strategy_file).name,
                    method=spec.method,
                    objective=spec.objective,
                    trials=len(trials),
                    best=None if best is None else trial_info(best),
                )
            )
        return found


def _new_spec(args: OptimizeRunArgs, strategy_file: str, data_dir: str) -> StudySpec:
    """A new study from ``optimize.run``'s arguments (defaults: GA on the Sharpe ratio)."""
    return StudySpec(
        strategy_file=strategy_file,
        data_dir=data_dir,
        instruments=list(args.instruments or []),
        start=args.start or None,
        end=args.end or None,
        method=args.method or "ga",
        objective=args.objective or "sharpe",
        trials=args.trials,
        seed=args.seed,
        overrides={name: str(value) for name, value in (args.params or {}).items()},
        min_trades=args.min_trades,
        max_drawdown=args.max_drawdown,
    )
