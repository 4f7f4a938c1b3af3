"""The optimizer's search: the space from declared parameters, objectives and constraints, and
grid / genetic search finding an optimum known by construction (real backtests, real SQLite,
a real process pool)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.settings import Settings
from engine.optimize.driver import Report, check_spec, run_study, space_of
from engine.optimize.executors import LocalExecutor
from engine.optimize.objective import Constraints, TrialMetrics, score
from engine.optimize.space import build_space, params_key
from engine.optimize.study import Study, StudySpec, read_trials
from engine.strategy.api import Param
from engine.strategy.loader import load_strategy_class
from tests.support.optimum_data import BEST, write_optimum_dataset

STRATEGY = Path(__file__).parent / "strategies" / "timed_swing.py"
TWO_MA = Path(__file__).parent / "strategies" / "two_ma.py"


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_optimum_dataset(tmp_path_factory.mktemp("optimum") / "ticks")


def spec(ticks: Path, **changes: object) -> StudySpec:
    fields: dict[str, object] = {
        "strategy_file": str(STRATEGY),
        "data_dir": str(ticks),
        "method": "grid",
        "objective": "total_return",
        "trials": 200,
        "seed": 11,
        "population": 12,
        "patience": 4,
    }
    fields.update(changes)
    return StudySpec(**fields)  # type: ignore[arg-type]


def run(root: Path, name: str, study_spec: StudySpec, jobs: int) -> Report:
    space = space_of(study_spec, load_strategy_class(study_spec.strategy_file, None))
    study = Study.open(root, name, study_spec)
    executor = LocalExecutor(study_spec, Settings(), jobs)
    try:
        report = run_study(study, space, executor)
    finally:
        executor.close()
    study.close(report.state)
    return report


# --- the space --------------------------------------------------------------------------------


def test_space_from_declared_params_and_overrides() -> None:
    cls = load_strategy_class(str(TWO_MA), None)
    space = build_space(cls.params, {"fast": "10:50:5", "slow": "100", "take_profit_bp": "1:3:1"})
    names = {d.name: d.values for d in space.dimensions}
    assert names["fast"] == (10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert names["take_profit_bp"] == (1, 2, 3)
    assert space.fixed["slow"] == 100 and space.fixed["notional"] == 1_000_000.0
    assert "stop_loss_bp" in names  # declared range, no override: searched over 1..500
    assert space.size == 9 * 3 * 500
    floats = build_space({"x": Param(0.5, low=0.1, high=0.3, step=0.1)}, {})
    assert floats.dimensions[0].values == (0.1, 0.2, 0.3)
    assert params_key({"b": 1, "a": 2.5}) == '{"a":2.5,"b":1}'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": "1"}, "unknown parameter(s) nope"),
        ({"fast": "a:b:c"}, "'a' is not a number"),
        ({"fast": "1:2"}, "expected NAME=VALUE or NAME=LOW:HIGH:STEP"),
        ({"fast": "2.5"}, "'2.5' is not a whole number"),
        ({"fast": "10:5:1"}, "high 5 is below low 10"),
        ({"fast": "1:300:0"}, "step 0 must be positive"),
        ({"fast": "1:300:1"}, "parameter fast: 1 is below its low bound 2"),
    ],
)
def test_space_rejects_bad_overrides(overrides: dict[str, str], message: str) -> None:
    cls = load_strategy_class(str(TWO_MA), None)
    with pytest.raises(ValueError) as caught:
        build_space(cls.params, overrides)
    assert message in str(caught.value)


def test_grid_larger_than_the_budget_is_refused(ticks: Path) -> None:
    study_spec = spec(ticks, trials=50)
    space = space_of(study_spec, load_strategy_class(str(STRATEGY), None))
    with pytest.raises(ValueError, match="the grid has 110 points, more than --trials 50"):
        check_spec(study_spec, space)


# --- objectives and constraints ---------------------------------------------------------------


def metrics(**changes: object) -> TrialMetrics:
    fields: dict[str, object] = {
        "total_return": 0.02, "sharpe": 1.5, "sortino": 2.0, "max_drawdown": 0.01,
        "profit_factor": 1.8, "trades": 12, "win_rate": 0.5, "pnl": "2000", "ticks": 100,
    }  # fmt: skip
    fields.update(changes)
    return TrialMetrics(**fields)  # type: ignore[arg-type]


def test_objectives_and_constraints() -> None:
    free = Constraints()
    assert score(metrics(), "sharpe", free) == (1.5, "")
    assert score(metrics(), "sortino", free) == (2.0, "")
    assert score(metrics(), "return_over_drawdown", free) == (pytest.approx(2.0), "")
    assert score(metrics(), "profit_factor", free) == (1.8, "")
    assert score(metrics(profit_factor=None), "profit_factor", free) == (1000.0, "")
    # Only break-even trades: no profit and no loss is not a perfect profit factor.
    no_gain = metrics(profit_factor=None, win_rate=0.0, total_return=0.0, pnl="0")
    assert score(no_gain, "profit_factor", free) == (None, "profit_factor undefined")
    assert score(metrics(sharpe=None), "sharpe", free) == (None, "sharpe undefined")
    assert score(metrics(trades=3), "sharpe", Constraints(min_trades=5)) == (
        None,
        "3 trades < minimum 5",
    )
    value, reason = score(metrics(max_drawdown=0.3), "sharpe", Constraints(max_drawdown=0.2))
    assert value is None and reason == "drawdown 30.00% > cap 20.00%"


# --- the known optimum ------------------------------------------------------------------------


def test_grid_finds_the_known_optimum(ticks: Path, tmp_path: Path) -> None:
    report = run(tmp_path, "grid", spec(ticks), jobs=2)
    assert report.state == "finished" and report.progress.done == 110
    assert report.best is not None
    assert {k: report.best.params[k] for k in BEST} == BEST
    runner_up = report.progress.leaderboard[1]
    assert runner_up.score is not None and runner_up.score < report.best.score
    stored = read_trials(tmp_path, "grid")
    assert len(stored) == 110 and len({r.key for r in stored}) == 110


def test_ga_finds_the_known_optimum_with_fewer_trials(ticks: Path, tmp_path: Path) -> None:
    report = run(tmp_path, "ga", spec(ticks, method="ga", trials=80), jobs=2)
    assert report.best is not None
    assert {k: report.best.params[k] for k in BEST} == BEST
    assert report.progress.done < 110  # fewer than the whole grid
    assert report.history and report.history[-1][1] == report.best.key


def test_infeasible_trials_rank_last_and_say_why(ticks: Path, tmp_path: Path) -> None:
    report = run(tmp_path, "min", spec(ticks, min_trades=2), jobs=1)
    assert report.best is None
    assert report.progress.leaderboard[0].reason == "1 trades < minimum 2"
