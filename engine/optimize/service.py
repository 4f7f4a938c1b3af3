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
from typing import Any

import msgspec

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
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from engine.strategy.backtests import tick_root
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
        self.outbox.put_state(self.topics.optimize_progress, encode(progress))

    # --- commands -----------------------------------------------------------------------------

    async def _cmd_run(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.running:
            raise CommandRejected(
                f"optimization {self._run_id} is still running; wait or optimize.cancel it"
            )
        spec, name = self._spec_from(args)
        jobs = args.get("jobs")
        jobs = engine_jobs() if jobs is None else jobs
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise CommandRejected(f"jobs: expected a whole number of at least 1, not {jobs!r}")
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
        return {"run_id": self._run_id, "study": name}

    def _spec_from(self, args: dict[str, Any]) -> tuple[StudySpec, str]:
        resume = args.get("resume")
        if resume:
            try:
                return read_spec(self.root, str(resume)), str(resume)
            except ValueError as exc:
                raise CommandRejected(str(exc)) from None
        file = args.get("strategy")
        if not isinstance(file, str) or not file.endswith(".py") or "/" in file or "\\" in file:
            raise CommandRejected(
                f"strategy: expected a .py file in {self.settings.strategies.dir}, not {file!r}"
            )
        path = resolve(self.settings.strategies.dir, file)
        if not path.is_file():
            raise CommandRejected(f"strategy: {path} does not exist")
        params = args.get("params") or {}
        if not isinstance(params, dict):
            raise CommandRejected("params: expected an object of NAME: 'LOW:HIGH:STEP' or value")
        trials = args.get("trials", 100)
        if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
            raise CommandRejected(f"trials: expected 1..{MAX_TRIALS}, not {trials!r}")
        try:
            spec = msgspec.convert(
                {
                    "strategy_file": str(path),
                    "data_dir": str(tick_root(self.settings)),
                    "instruments": args.get("instruments") or [],
                    "start": args.get("start") or None,
                    "end": args.get("end") or None,
                    "method": args.get("method") or "ga",
                    "objective": args.get("objective") or "sharpe",
                    "trials": trials,
                    "seed": args.get("seed") or 0,
                    "overrides": {str(k): str(v) for k, v in params.items()},
                    "min_trades": args.get("min_trades") or 0,
                    "max_drawdown": args.get("max_drawdown"),
                },
                StudySpec,
            )
        except msgspec.ValidationError as exc:
            raise CommandRejected(f"bad optimize arguments: {exc}") from None
        name = args.get("study") or default_study_name(spec)
        try:
            check_name(str(name))
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        return spec, str(name)

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

    async def _cmd_cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.running or self._worker is None:
            raise CommandRejected("no optimization is running")
        self._worker.cancel()
        return {"run_id": self._run_id, "study": self._study}

    async def _cmd_list(self, args: dict[str, Any]) -> dict[str, Any]:
        listings = await asyncio.to_thread(self.studies)
        return {"studies": msgspec.to_builtins(listings)}

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
