"""The optimization loop: ask the search for points, run the ones the study lacks, store each
outcome as it arrives, tell the search the batch's scores, until the search or the budget ends.
A stop (``should_stop``) starts no more trials but stores the ones running when it came.

The same function serves the CLI (``stom optimize``), the engine's ``optimize.run`` (in a worker
process) and the tests. It never decides where trials run: it is handed an
:class:`~engine.optimize.executors.Executor`.

Each trial reports its path (vector or event, see :mod:`engine.optimize.trial`). A seeded sample
of the session's trials (the first one and ``rechecks - 1`` more) is marked for the re-check:
on the vector path such a trial is also backtested and its fills compared one by one; a
difference stores the trial as failed, names the fill and ends the run with
:class:`RecheckFailed`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from engine.optimize.executors import Executor
from engine.optimize.objective import (
    Constraints,
    ObjectiveName,
    check_objective,
    rank_key,
    score,
)
from engine.optimize.search import GeneticSearch, GridSearch, Point, RandomSearch, Search
from engine.optimize.space import SearchSpace, build_space, params_key
from engine.optimize.study import SessionFigures, Study, StudySpec, TrialRecord
from engine.optimize.trial import VECTOR, TrialOutcome, TrialTask
from engine.strategy.api import Strategy

METHODS = ("grid", "random", "ga")
RECHECKS = 2
"""Trials per session re-checked fill by fill against the event path (when on the vector path)."""

OnTrial = Callable[[TrialRecord, "Progress"], None]


@dataclass
class Progress:
    """Where a run is: trials stored (this session and before), the budget, the leaders."""

    done: int
    total: int
    evaluated: int
    """Trials this session ran."""
    resumed: int
    """Trials found in the study when the session began."""
    leaderboard: list[TrialRecord] = field(default_factory=list)
    generation: int = 0
    vector: int = 0
    """Trials this session evaluated on the vector path."""
    event: int = 0
    """... and on the event path."""
    rechecked: int = 0
    """Vector trials re-checked against the event path (all identical, or the run failed)."""
    trades: int = 0
    """Trades the session's trials replayed, summed (combo-trades)."""
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    """When the run ended (None: running)."""
    event_reasons: dict[str, int] = field(default_factory=dict)
    """Why trials took the event path, with how many did."""

    def figures(self) -> SessionFigures:
        return SessionFigures(
            vector_trials=self.vector,
            event_trials=self.event,
            rechecked=self.rechecked,
            trades=self.trades,
            wall_s=round((self.ended or time.perf_counter()) - self.started, 3),
        )


class RecheckFailed(RuntimeError):
    """A re-checked parameter set's fills differ between the vector and the event path."""


@dataclass
class Report:
    """How a run ended."""

    state: str
    """``finished`` or ``interrupted``."""
    progress: Progress
    best: TrialRecord | None
    stopped: str = ""
    """Why a GA stopped before the budget (empty otherwise)."""
    history: list[tuple[list[str], str | None, float]] = field(default_factory=list)
    """GA: per generation, its parameter-set keys, then the best key and fitness so far."""


def space_of(spec: StudySpec, strategy_cls: type[Strategy]) -> SearchSpace:
    return build_space(strategy_cls.params, spec.overrides)


def check_spec(spec: StudySpec, space: SearchSpace) -> None:
    """ValueError naming the bad setting (method, objective, budget, grid size)."""
    if spec.method not in METHODS:
        raise ValueError(f"method {spec.method!r}: expected one of {', '.join(METHODS)}")
    check_objective(spec.objective)
    if spec.trials < 1:
        raise ValueError(f"trials must be at least 1, got {spec.trials}")
    if spec.min_trades < 0:
        raise ValueError(f"min trades must not be negative, got {spec.min_trades}")
    if spec.max_drawdown is not None and not 0 < spec.max_drawdown <= 1:
        raise ValueError(f"max drawdown must be a fraction in (0, 1], got {spec.max_drawdown}")
    if spec.method == "grid" and space.size > spec.trials:
        raise ValueError(
            f"the grid has {space.size:,} points, more than --trials {spec.trials}: "
            "narrow it with --param NAME=LOW:HIGH:STEP or raise --trials"
        )


def budget(spec: StudySpec, space: SearchSpace) -> int:
    """Most trials the run may evaluate."""
    return min(spec.trials, space.size)


def make_search(spec: StudySpec, space: SearchSpace) -> Search:
    if spec.method == "grid":
        return GridSearch(space)
    if spec.method == "random":
        return RandomSearch(space, spec.trials, spec.seed)
    return GeneticSearch(
        space,
        population=min(spec.population, max(2, spec.trials)),
        seed=spec.seed,
        patience=spec.patience,
    )


def leaderboard(study: Study, size: int = 10) -> list[TrialRecord]:
    records = sorted(study.trials.values(), key=lambda r: (-rank_key(r.score), r.key))
    return records[:size]


def run_study(
    study: Study,
    space: SearchSpace,
    executor: Executor,
    *,
    on_trial: OnTrial | None = None,
    should_stop: Callable[[], bool] | None = None,
    rechecks: int = RECHECKS,
) -> Report:
    """Run (or resume) ``study`` to its end; see the module docstring. RecheckFailed when a
    re-checked trial's paths differ (the study keeps it, failed, with the difference)."""
    spec = study.spec
    check_spec(spec, space)
    objective = check_objective(spec.objective)
    constraints = Constraints(min_trades=spec.min_trades, max_drawdown=spec.max_drawdown)
    search = make_search(spec, space)
    limit = budget(spec, space)
    progress = Progress(done=len(study.trials), total=limit, evaluated=0, resumed=study.resumed)
    progress.leaderboard = leaderboard(study)
    state = "finished"
    sampled = _recheck_sample(limit - progress.done, rechecks, spec.seed)
    dispatched = 0

    def stopping() -> bool:
        return state == "interrupted"

    while True:
        points = search.ask()
        if points is None:
            break
        keyed: dict[Point, TrialTask] = {}
        for point in points:
            params = space.params(point)
            keyed[point] = TrialTask(params_key(params), params)
        todo: list[TrialTask] = []
        queued: set[str] = set()
        for task in keyed.values():
            if task.key not in study.trials and task.key not in queued:
                queued.add(task.key)
                todo.append(task)
        todo = todo[: max(0, limit - progress.done)]
        for position, task in enumerate(todo):
            if dispatched + position in sampled:
                todo[position] = TrialTask(task.key, task.params, recheck=True)
        dispatched += len(todo)
        # On a stop the executor starts nothing more; the trials running then are still stored.
        with closing(executor.run(todo, stopping)) as outcomes:
            for outcome in outcomes:
                record = _store(study, outcome, objective, constraints)
                progress.done += 1
                progress.evaluated += 1
                _count(progress, outcome)
                study.store_figures(progress.figures())
                progress.leaderboard = leaderboard(study)
                if on_trial is not None:
                    on_trial(record, progress)
                if outcome.recheck and outcome.recheck != "identical":
                    raise RecheckFailed(
                        f"re-check of {outcome.key}: the vector and event paths differ at "
                        f"{outcome.recheck}"
                    )
                if should_stop is not None and should_stop():
                    state = "interrupted"
        if state == "interrupted":
            break
        missing = [point for point, task in keyed.items() if task.key not in study.trials]
        if missing:
            break  # the budget ran out inside this batch
        search.tell(
            {point: rank_key(study.trials[task.key].score) for point, task in keyed.items()}
        )
        if isinstance(search, GeneticSearch):
            progress.generation = search.generation
    progress.ended = time.perf_counter()
    if progress.evaluated:
        study.store_figures(progress.figures())
    report = Report(state=state, progress=progress, best=_best(study))
    if isinstance(search, GeneticSearch):
        report.stopped = search.stopped
        report.history = [
            (
                [params_key(space.params(p)) for p in points],
                None if best is None else params_key(space.params(best)),
                fitness,
            )
            for points, best, fitness in search.history
        ]
    return report


def _recheck_sample(trials: int, rechecks: int, seed: int) -> set[int]:
    """Which of the session's trials (by dispatch order) to re-check: the first, and a seeded
    sample of the rest."""
    if trials <= 0 or rechecks <= 0:
        return set()
    rest = random.Random(seed).sample(range(1, trials), min(rechecks - 1, trials - 1))
    return {0, *rest}


def _count(progress: Progress, outcome: TrialOutcome) -> None:
    progress.trades += outcome.trades
    if outcome.path == VECTOR:
        progress.vector += 1
        if outcome.recheck:
            progress.rechecked += 1
    else:
        progress.event += 1
        reason = outcome.path_reason or "not given"
        progress.event_reasons[reason] = progress.event_reasons.get(reason, 0) + 1


def _store(
    study: Study, outcome: TrialOutcome, objective: ObjectiveName, constraints: Constraints
) -> TrialRecord:
    mismatch = outcome.recheck and outcome.recheck != "identical"
    if outcome.metrics is None or mismatch:
        value, failed = None, True
        reason = f"re-check: {outcome.recheck}" if mismatch else outcome.error or "no result"
    else:
        value, reason = score(outcome.metrics, objective, constraints)
        failed = False
    return study.add(
        outcome.key,
        outcome.params,
        value,
        reason,
        failed,
        outcome.metrics,
        outcome.wall_s,
        path=outcome.path,
        path_reason=outcome.path_reason,
        trades=outcome.trades,
        recheck=outcome.recheck,
        recheck_fills=outcome.recheck_fills,
    )


def _best(study: Study) -> TrialRecord | None:
    board = leaderboard(study, 1)
    if not board or board[0].score is None:
        return None
    return board[0]
