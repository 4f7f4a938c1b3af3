"""Walk-forward and Monte Carlo runs asked for over the bus: ``walkforward.run`` / ``cancel`` /
``status`` and ``montecarlo.run`` / ``status``.

Each run is a process (:mod:`engine.optimize.robustness_worker`) doing what ``stom walkforward``
and ``stom montecarlo`` do, with the same stored files: a walk-forward's window studies live under
``<data.dir>/walkforward/<name>`` (running the same name again, here or on the command line,
resumes them). The engine polls the process a few times a second and publishes, retained, at
``walkforward/progress`` (once per finished window) and ``montecarlo/progress`` (start and end);
the ``*.status`` commands return the newest of each. One run of each kind at a time.

Arguments are checked before a process is spent: types and ranges when the command is decoded,
then the strategy file, the search (as ``optimize.run`` checks it) and whether the recorded days
hold one window; a refusal names the field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from engine.backtest.service import results_root, tick_root
from engine.commands import CommandRejected, CommandRouter
from engine.config.settings import Settings
from engine.optimize.service import engine_jobs
from engine.optimize.study import StudySpec, check_name
from engine.outbox import Outbox
from engine.protocol import research as rs
from engine.protocol import results as r
from engine.protocol.commands import MonteCarloRunArgs, NoArgs, WalkForwardRunArgs
from engine.protocol.topics import Topics
from engine.strategy.loader import resolve
from engine.worker_service import WorkerService

if TYPE_CHECKING:
    from engine.optimize.robustness_worker import ResearchWorker
    from engine.optimize.walkforward import WindowResult

log = logging.getLogger("stom.research")


def walkforward_root(settings: Settings) -> Path:
    """Where walk-forward studies are stored (the same place as ``stom walkforward``'s)."""
    return Path(settings.data.dir).expanduser() / "walkforward"


def window_efficiency(ins: float | None, outs: float | None) -> float | None:
    """One window's efficiency: out-of-sample / in-sample annualized return (None when either
    is missing or the in-sample one is 0)."""
    if ins is None or outs is None or ins == 0:
        return None
    return outs / ins


class WalkForwardService(WorkerService):
    """Runs walk-forward analyses in a worker process for bus commands."""

    def __init__(
        self, settings: Settings, outbox: Outbox, topics: Topics, now_ns: Callable[[], int]
    ) -> None:
        super().__init__(settings, outbox, topics, now_ns)
        self.root = walkforward_root(settings)
        self.latest: rs.WalkForwardProgress | None = None
        self._worker: ResearchWorker | None = None
        self._windows: list[WindowResult] = []

    def register(self, commands: CommandRouter) -> None:
        commands.register("walkforward.run", self._cmd_run)
        commands.register("walkforward.cancel", self._cmd_cancel)
        commands.register("walkforward.status", self._cmd_status)

    def poll(self) -> None:
        from engine.optimize.walkforward import WalkForwardResult, WindowResult

        if self._worker is None or self.latest is None:
            return
        for kind, body in self._worker.poll():
            if kind == "window":
                self._windows.append(msgspec.json.decode(body, type=WindowResult))
                self._update("running")
            elif kind == "done":
                result = msgspec.json.decode(body, type=WalkForwardResult)
                self._windows = list(result.windows)
                self._update("done")
                log.info("walk-forward %s done: efficiency %s", self._run_id, result.efficiency)
            else:
                log.warning("walk-forward %s failed: %s", self._run_id, body)
                self._update("failed", error=str(body))

    def stop(self) -> None:
        if self.running and self._worker is not None:
            self._worker.kill()

    def _update(self, state: rs.ResearchStateText, *, error: str | None = None) -> None:
        """Publish the windows so far and the run's efficiency over them."""
        from engine.optimize.walkforward import efficiency

        assert self.latest is not None
        self.latest = msgspec.structs.replace(
            self.latest,
            ts=self.now_ns(),
            state=state,
            done=len(self._windows),
            windows=[_window_info(window) for window in self._windows],
            efficiency=efficiency(self._windows),
            error=error,
        )
        self.outbox.publish(self.topics.walkforward_progress, self.latest)

    # --- commands -----------------------------------------------------------------------------

    async def _cmd_run(self, args: WalkForwardRunArgs) -> r.ResearchRunResult:
        from engine.optimize.robustness_worker import (
            ResearchWorker,
            WalkForwardJob,
            walkforward_main,
        )
        from engine.optimize.walkforward import WFE_DEFINITION

        if self.running:
            raise CommandRejected(
                f"walk-forward {self._run_id} is still running; wait or walkforward.cancel it"
            )
        path = resolve(self.settings.strategies.dir, args.strategy)
        if not path.is_file():
            raise CommandRejected(f"strategy: {path} does not exist")
        spec = StudySpec(
            strategy_file=str(path),
            data_dir=str(tick_root(self.settings)),
            instruments=list(args.instruments or []),
            method=args.method,
            objective=args.objective,
            trials=args.trials,
            seed=args.seed,
            overrides={name: str(value) for name, value in (args.params or {}).items()},
            min_trades=args.min_trades,
        )
        name = args.name or f"{path.stem}-{args.method}-{args.mode}-{args.train}d-{args.test}d"
        try:
            check_name(name)
            windows = await asyncio.to_thread(_check, spec, args)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        job = WalkForwardJob(
            spec=spec, root=str(self.root), name=name, train=args.train, test=args.test,
            mode=args.mode, jobs=engine_jobs() if args.jobs is None else args.jobs,
        )  # fmt: skip
        self._run_id = f"wf{next(self._runs)}"
        self._windows = []
        self._worker = ResearchWorker(walkforward_main, job, self.settings, "stom-walkforward")
        self._worker.start()
        self.wake()
        self.latest = rs.WalkForwardProgress(
            ts=self.now_ns(), run_id=self._run_id, name=name, strategy=path.name,
            mode=args.mode, method=args.method, objective=args.objective, state="starting",
            done=0, total=windows, windows=[], efficiency_definition=WFE_DEFINITION,
        )  # fmt: skip
        self.outbox.publish(self.topics.walkforward_progress, self.latest)
        log.info("walk-forward %s started: %s, %d windows", self._run_id, name, windows)
        return r.ResearchRunResult(run_id=self._run_id, name=name)

    async def _cmd_cancel(self, args: NoArgs) -> r.ResearchRunResult:
        if not self.running or self._worker is None or self.latest is None:
            raise CommandRejected("no walk-forward is running")
        self._worker.cancel()
        self._update("cancelled")
        return r.ResearchRunResult(run_id=self._run_id, name=self.latest.name)

    async def _cmd_status(self, args: NoArgs) -> r.WalkForwardStatusResult:
        return r.WalkForwardStatusResult(progress=self.latest)


class MonteCarloService(WorkerService):
    """Runs Monte Carlo simulations of stored backtests in a worker process for bus commands."""

    def __init__(
        self, settings: Settings, outbox: Outbox, topics: Topics, now_ns: Callable[[], int]
    ) -> None:
        super().__init__(settings, outbox, topics, now_ns)
        self.results_dir = results_root(settings)
        self.latest: rs.MonteCarloProgress | None = None
        self._worker: ResearchWorker | None = None

    def register(self, commands: CommandRouter) -> None:
        commands.register("montecarlo.run", self._cmd_run)
        commands.register("montecarlo.status", self._cmd_status)

    def poll(self) -> None:
        from engine.optimize.robustness_worker import MonteCarloOutcome

        worker = self._worker
        if worker is None or self.latest is None:
            return
        for kind, body in worker.poll():
            if kind == "done":
                outcome = msgspec.json.decode(body, type=MonteCarloOutcome)
                summary = outcome.summary
                self._update(
                    "done",
                    currency=outcome.currency,
                    trades=summary["trades"],
                    initial_equity=summary["initial_equity"],
                    percentiles=outcome.fan.percentiles,
                    fan_x=outcome.fan.x,
                    fan=outcome.fan.curves,
                    fan_runs=outcome.fan.runs,
                    final_equity=msgspec.convert(summary["final_equity"], rs.IntervalInfo),
                    max_drawdown=msgspec.convert(summary["max_drawdown"], rs.IntervalInfo),
                    probability_of_ruin=summary["probability_of_ruin"],
                )
            elif kind == "error":
                log.warning("Monte Carlo %s failed: %s", self._run_id, body)
                self._update("failed", error=str(body))

    def stop(self) -> None:
        if self.running and self._worker is not None:
            self._worker.kill()

    def _update(self, state: rs.ResearchStateText, **changes: object) -> None:
        assert self.latest is not None
        self.latest = msgspec.structs.replace(self.latest, ts=self.now_ns(), state=state, **changes)
        self.outbox.publish(self.topics.montecarlo_progress, self.latest)

    async def _cmd_run(self, args: MonteCarloRunArgs) -> r.ResearchRunResult:
        from engine.optimize.robustness_worker import MonteCarloJob, ResearchWorker, montecarlo_main

        if self.running:
            raise CommandRejected(f"Monte Carlo {self._run_id} is still running; wait for it")
        if not (self.results_dir / args.result).is_dir():
            raise CommandRejected(f"result: no stored backtest {args.result!r} (backtest.list)")
        job = MonteCarloJob(
            results_dir=str(self.results_dir), result_id=args.result, runs=args.runs,
            method=args.method, seed=args.seed, ruin=args.ruin,
        )  # fmt: skip
        self._run_id = f"mc{next(self._runs)}"
        self._worker = ResearchWorker(montecarlo_main, job, self.settings, "stom-montecarlo")
        self._worker.start()
        self.wake()
        self.latest = rs.MonteCarloProgress(
            ts=self.now_ns(), run_id=self._run_id, result_id=args.result, state="starting",
            method=args.method, runs=args.runs, seed=args.seed, ruin_fraction=args.ruin,
        )  # fmt: skip
        self.outbox.publish(self.topics.montecarlo_progress, self.latest)
        log.info("Monte Carlo %s started: %s, %d runs", self._run_id, args.result, args.runs)
        return r.ResearchRunResult(run_id=self._run_id, name=args.result)

    async def _cmd_status(self, args: NoArgs) -> r.MonteCarloStatusResult:
        return r.MonteCarloStatusResult(progress=self.latest)


def _check(spec: StudySpec, args: WalkForwardRunArgs) -> int:
    """The checks ``stom walkforward`` makes, before a process is spent; the window count."""
    from engine.optimize.driver import check_spec, space_of
    from engine.optimize.walkforward import make_windows, recorded_days
    from engine.strategy.loader import StrategyLoadError, load_strategy_class

    try:
        cls = load_strategy_class(spec.strategy_file, spec.strategy_class)
    except StrategyLoadError as exc:
        raise ValueError(f"strategy: {exc}") from None
    check_spec(spec, space_of(spec, cls))
    days = recorded_days(spec.data_dir, spec.instruments)
    try:
        return len(make_windows(days, args.train, args.test, args.mode))
    except ValueError as exc:
        raise ValueError(f"train, test: {exc}") from None


def _window_info(window: WindowResult) -> rs.WindowInfo:
    """A window of :mod:`engine.optimize.walkforward` as the protocol carries it."""
    return rs.WindowInfo(
        number=window.number,
        best_params=dict(window.best_params),
        trials=window.trials,
        in_sample=msgspec.convert(msgspec.to_builtins(window.in_sample), rs.PeriodInfo),
        out_of_sample=msgspec.convert(msgspec.to_builtins(window.out_of_sample), rs.PeriodInfo),
        efficiency=window_efficiency(
            window.in_sample.annualized_return, window.out_of_sample.annualized_return
        ),
    )
