"""The Ray executor on a local Ray instance: the same seed gives the same GA trajectory and the
same best parameters as the local process pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.settings import Settings
from engine.optimize.driver import run_study, space_of
from engine.optimize.executors import LocalExecutor, RayExecutor
from engine.optimize.study import Study, StudySpec
from engine.strategy.loader import load_strategy_class
from tests.support.optimum_data import BEST, write_optimum_dataset

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")

STRATEGY = Path(__file__).parent / "strategies" / "timed_swing.py"

pytestmark = pytest.mark.integration


def test_ray_and_local_follow_the_same_trajectory(tmp_path: Path) -> None:
    ticks = write_optimum_dataset(tmp_path / "ticks")
    spec = StudySpec(
        strategy_file=str(STRATEGY),
        data_dir=str(ticks),
        method="ga",
        objective="total_return",
        trials=60,
        seed=21,
        population=10,
        patience=3,
    )
    space = space_of(spec, load_strategy_class(spec.strategy_file, None))
    reports = {}
    for name in ("local", "ray"):
        study = Study.open(tmp_path / "studies", name, spec)
        if name == "ray":
            executor: LocalExecutor | RayExecutor = RayExecutor(spec, Settings(), jobs=2)
        else:
            executor = LocalExecutor(spec, Settings(), jobs=2)
        try:
            reports[name] = run_study(study, space, executor)
        finally:
            executor.close()
        study.close(reports[name].state)
    assert not ray.is_initialized()  # the executor stopped the instance it started
    local, on_ray = reports["local"], reports["ray"]
    assert on_ray.progress.evaluated == local.progress.evaluated > 0
    assert on_ray.history == local.history
    assert local.best is not None and on_ray.best is not None
    assert on_ray.best.params == local.best.params
    assert {k: on_ray.best.params[k] for k in BEST} == BEST
    ray_scores = {r.key: r.score for r in on_ray.progress.leaderboard}
    assert ray_scores == {r.key: r.score for r in local.progress.leaderboard}
