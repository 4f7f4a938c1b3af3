"""Determinism and resume: the same seed gives the same GA trajectory; a study interrupted (in
process, or by SIGKILL of a real ``stom optimize`` process group) resumes and runs only the
trials it lacks, counted from the study file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config.settings import Settings
from engine.optimize.driver import Report, run_study, space_of
from engine.optimize.executors import LocalExecutor
from engine.optimize.study import Study, StudySpec, read_trials
from engine.strategy.loader import load_strategy_class
from tests.support.optimum_data import BEST, write_optimum_dataset

STRATEGY = Path(__file__).parent / "strategies" / "timed_swing.py"


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_optimum_dataset(tmp_path_factory.mktemp("optimum") / "ticks")


def ga_spec(ticks: Path, seed: int) -> StudySpec:
    return StudySpec(
        strategy_file=str(STRATEGY),
        data_dir=str(ticks),
        method="ga",
        objective="return_over_drawdown",
        trials=60,
        seed=seed,
        population=10,
        patience=3,
        overrides={"hold": "100:1000:50"},
    )


def run(root: Path, name: str, spec: StudySpec, jobs: int, stop_after: int | None = None) -> Report:
    space = space_of(spec, load_strategy_class(spec.strategy_file, None))
    study = Study.open(root, name, spec)
    executor = LocalExecutor(spec, Settings(), jobs)
    done = [0]

    def on_trial(record: object, progress: object) -> None:
        done[0] += 1

    def should_stop() -> bool:
        return stop_after is not None and done[0] >= stop_after

    try:
        report = run_study(study, space, executor, on_trial=on_trial, should_stop=should_stop)
    finally:
        executor.close()
    study.close(report.state)
    return report


def test_same_seed_same_trajectory_and_resume_replays_it(ticks: Path, tmp_path: Path) -> None:
    first = run(tmp_path, "a", ga_spec(ticks, 5), jobs=2)
    again = run(tmp_path, "b", ga_spec(ticks, 5), jobs=1)
    other = run(tmp_path, "c", ga_spec(ticks, 6), jobs=2)
    assert len(first.history) >= 3
    assert first.history == again.history
    assert first.best is not None and again.best is not None
    assert first.best.params == again.best.params
    assert other.history != first.history  # the seed matters: this test can fail

    interrupted = run(tmp_path, "d", ga_spec(ticks, 5), jobs=2, stop_after=15)
    stored = interrupted.progress.done  # 15, then the trials running at the stop
    assert interrupted.state == "interrupted" and 15 <= stored < first.progress.done
    resumed = run(tmp_path, "d", ga_spec(ticks, 5), jobs=2)
    assert resumed.progress.resumed == stored
    assert resumed.progress.evaluated == first.progress.done - stored
    assert resumed.history == first.history
    assert resumed.best is not None and resumed.best.params == first.best.params
    assert {k: first.best.params[k] for k in BEST} == BEST


def test_a_stop_lets_the_running_trials_finish_and_stores_them(ticks: Path, tmp_path: Path) -> None:
    # The first batch is the GA's population of 10. Stopped at the first outcome: the other
    # worker's running trial finishes and is stored; the queued ones are dropped.
    spec = ga_spec(ticks, 5)
    report = run(tmp_path, "s", spec, jobs=2, stop_after=1)
    assert report.state == "interrupted"
    assert 2 <= report.progress.done < spec.population
    assert report.progress.evaluated == report.progress.done
    assert len(read_trials(tmp_path, "s")) == report.progress.done
    inline = run(tmp_path, "i", spec, jobs=1, stop_after=1)  # nothing else runs in process
    assert inline.state == "interrupted" and inline.progress.done == 1


def stom(tmp_path: Path, *args: str, **kwargs: object) -> list[str]:
    return [sys.executable, "-m", "engine", "--set", f"data.dir={tmp_path / 'data'}", *args]


@pytest.mark.integration
def test_sigkill_half_way_then_resume_runs_only_the_missing_trials(
    ticks: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)
    command = stom(tmp_path, "optimize", str(STRATEGY), "--data", str(ticks), "--method", "grid",
                   "--objective", "total_return", "--trials", "1000", "--jobs", "2",
                   "--param", "hold=100:1000:25", "--study", "killed", "--json")  # fmt: skip
    total = 11 * 37
    study_file = tmp_path / "data" / "optimize" / "killed" / "study.sqlite"
    process = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while stored < 40:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, f"only {stored} trials in 60 s"
            time.sleep(0.05)
            stored = count_trials(study_file)
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its pool workers, at once
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
    killed = count_trials(study_file)
    assert 40 <= killed < total, "the run finished before it was killed: nothing to resume"

    resume = subprocess.run(
        stom(tmp_path, "optimize", "--resume", "killed", "--jobs", "2", "--json"),
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert resume.returncode == 0, resume.stderr
    result = json.loads(resume.stdout)
    assert result["resumed"] == killed and result["evaluated"] == total - killed
    assert {k: result["best"]["params"][k] for k in BEST} == BEST
    trials = read_trials(tmp_path / "data" / "optimize", "killed")
    assert len(trials) == total and len({t.key for t in trials}) == total
    sessions = {t.session for t in trials}
    assert sessions == {1, 2}
    assert sum(1 for t in trials if t.session == 2) == total - killed


def count_trials(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(db.execute("SELECT count(*) FROM trials").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0  # the file exists but the schema is not written yet


def test_a_dead_worker_is_reported_in_one_line_and_the_study_kept(
    ticks: Path, tmp_path: Path
) -> None:
    dies = Path(__file__).parent / "strategies" / "dies.py"
    command = stom(tmp_path, "optimize", str(dies), "--data", str(ticks), "--method", "grid",
                   "--jobs", "2", "--study", "crash")  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "a worker process died" in done.stderr and "--resume crash" in done.stderr
    assert "Traceback" not in done.stderr
