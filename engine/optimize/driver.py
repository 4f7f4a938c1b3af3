"""The optimization loop: ask the search for points, run the ones the study lacks, store each
outcome as it arrives, tell the search the batch's scores, until the search or the budget ends.
A stop (``should_stop``) starts no more trials but stores the ones running when it came.

The same function serves the CLI (``stom optimize``), the engine's ``optimize.run`` (in a worker
process) and the tests. It never decides where trials run: it is handed an
:class:`~engine.optimize.executors.Executor`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from engine.optimize.executors import Executor
from engine.optimize.objective import Constraints, check_objective, rank_key, score
from engine.optimize.search import GeneticSearch, GridSearch, Point, RandomSearch, Search
from engine.optimize.space import SearchSpace, build_space, params_key
from engine.optimize.study import Study, StudySpec, TrialRecord
from engine.optimize.trial import TrialOutcome, TrialTask
from engine.strategy.api import Strategy

METHODS = ("grid", "random", "ga")

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
) -> Report:
    """Run (or resume) ``study`` to its end; see the module docstring."""
    spec = study.spec
    check_spec(spec, space)
    objective = check_objective(spec.objective)
    constraints = Constraints(min_trades=spec.min_trades, max_drawdown=spec.max_drawdown)
    search = make_search(spec, space)
    limit = budget(spec, space)
    progress = Progress(done=len(study.trials), total=limit, evaluated=0, resumed=study.resumed)
    progress.leaderboard = leaderboard(study)
    state = "finished"

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
        # On a stop the executor starts nothing more; the trials running then are still stored.
        with closing(executor.run(todo, stopping)) as outcomes:
            for outcome in outcomes:
                record = _store(study, outcome, objective, constraints)
                progress.done += 1
                progress.evaluated += 1
                progress.leaderboard = leaderboard(study)
                if on_trial is not None:
                    on_trial(record, progress)
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


def _store(
    study: Study, outcome: TrialOutcome, objective: str, constraints: Constraints
) -> TrialRecord:
    if outcome.metrics is None:
        value, reason, failed = None, outcome.error or "no result", True
    else:
        value, reason = score(outcome.metrics, objective, constraints)  # type: ignore[arg-type]
        failed = False
    return study.add(
        outcome.key, outcome.params, value, reason, failed, outcome.metrics, outcome.wall_s
    )


def _best(study: Study) -> TrialRecord | None:
    board = leaderboard(study, 1)
    if not board or board[0].score is None:
        return None
    return board[0]
