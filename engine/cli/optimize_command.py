"""``stom optimize FILE``: search a strategy's parameters over recorded ticks on all cores (or
a Ray cluster), with a progress bar and a live leaderboard on the terminal (stderr), every trial
stored as it finishes in ``<data.dir>/optimize/<study>/study.sqlite``.

Ctrl+C once: stop after the running trials (resumable); twice: stop now. Running the same command
again (or ``--resume NAME``) resumes: finished trials are not run again.

A strategy that declares the signal API runs on the vector path (``docs/vector-path.md``): each
trial's line says which path it took (and why not the vector one) with its trades per second;
sampled trials are re-checked fill by fill against the event path, and a difference fails the
run (exit 1) naming the fill.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings
from engine.storage.paths import store_root

SEARCH_FLAGS = ("strategy_file", "method", "objective", "trials", "seed", "param")


def add_optimize_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "optimize", parents=[common], help="search a strategy's parameters over recorded ticks"
    )
    p.add_argument("strategy_file", type=Path, nargs="?", help="the strategy's .py file")
    p.add_argument("--class", dest="strategy_class", help="class to run (file has several)")
    p.add_argument("--data", type=Path, help="tick store root (default: <data.dir>/ticks)")
    p.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC)")
    p.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC)")
    p.add_argument("--instrument", action="append", default=[], metavar="ID", help="repeatable")
    p.add_argument("--method", choices=("grid", "random", "ga"), default="ga")
    p.add_argument(
        "--objective",
        default="sharpe",
        help="sharpe, sortino, return_over_drawdown, profit_factor or total_return",
    )
    p.add_argument("--trials", type=int, default=100, help="most parameter sets to evaluate")
    p.add_argument("--seed", type=int, default=0, help="random and ga: the same seed, same run")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH:STEP|NAME=VALUE",
        help="search a range or fix a value (repeatable)",
    )
    p.add_argument("--min-trades", type=int, default=0, help="fewer trades: infeasible")
    p.add_argument(
        "--max-drawdown", type=float, help="deeper drawdown (fraction, 0.2 = 20 %%): infeasible"
    )
    p.add_argument("--population", type=int, default=20, help="ga: individuals per generation")
    p.add_argument("--patience", type=int, default=5, help="ga: generations without progress")
    p.add_argument("--jobs", type=int, help="worker processes (default: every core)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", help="a Ray cluster (default: start a local Ray instance)")
    p.add_argument("--study", help="study name (default: derived from the settings)")
    p.add_argument("--resume", metavar="STUDY", help="continue a stored study with its settings")
    p.add_argument("--studies", type=Path, help="default: <data.dir>/optimize")
    p.add_argument("--top", type=int, default=10, help="leaderboard rows")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--recheck",
        type=int,
        default=2,
        metavar="N",
        help="vector-path trials re-checked fill by fill against the event path (default 2)",
    )


def run_optimize_command(settings: Settings, args: argparse.Namespace) -> int:
    from engine.optimize.study import default_study_name, read_spec

    root = args.studies or Path(settings.data.dir).expanduser() / "optimize"
    try:
        if args.resume:
            name = args.resume
            spec = read_spec(root, name)
        else:
            spec = _spec(settings, args)
            name = args.study or default_study_name(spec)
    except ValueError as exc:
        print(f"stom optimize: {exc}", file=sys.stderr)
        return 2
    return _run(settings, args, root, name, spec)


def _spec(settings: Settings, args: argparse.Namespace) -> Any:
    from engine.optimize.objective import check_objective
    from engine.optimize.space import parse_override
    from engine.optimize.study import StudySpec

    if args.strategy_file is None:
        raise ValueError("give a strategy file, or --resume STUDY")
    if not args.strategy_file.is_file():
        raise ValueError(f"{args.strategy_file}: no such file")
    overrides: dict[str, str] = {}
    for item in args.param:
        name, parts = parse_override(item)
        overrides[name] = ":".join(parts)
    data_dir = args.data or store_root(settings.data.dir, settings.recorder.dir)
    return StudySpec(
        strategy_file=str(args.strategy_file.resolve()),
        strategy_class=args.strategy_class,
        data_dir=str(Path(data_dir).resolve()),
        instruments=list(args.instrument),
        start=args.start,
        end=args.end,
        method=args.method,
        objective=check_objective(args.objective),
        trials=args.trials,
        seed=args.seed,
        overrides=overrides,
        min_trades=args.min_trades,
        max_drawdown=args.max_drawdown,
        population=args.population,
        patience=args.patience,
    )


def _run(settings: Settings, args: argparse.Namespace, root: Path, name: str, spec: Any) -> int:
    from engine.optimize.driver import check_spec, space_of
    from engine.optimize.study import Study
    from engine.strategy.loader import StrategyLoadError, load_strategy_class

    try:
        cls = load_strategy_class(spec.strategy_file, spec.strategy_class)
        space = space_of(spec, cls)
        check_spec(spec, space)
        study = Study.open(root, name, spec)
    except (ValueError, StrategyLoadError, OSError) as exc:
        print(f"stom optimize: {exc}", file=sys.stderr)
        return 2
    try:
        executor = _executor(settings, args, spec)
    except (ValueError, RuntimeError, ConnectionError) as exc:
        study.close("failed")
        print(f"stom optimize: {exc}", file=sys.stderr)
        return 2
    from engine.optimize.driver import RecheckFailed
    from engine.optimize.vector_signals import declares_signals

    if args.recheck < 0:
        print(f"stom optimize: --recheck must not be negative, got {args.recheck}", file=sys.stderr)
        study.close("failed")
        executor.close()
        return 2
    if declares_signals(cls):
        print(
            f"vector path: {cls.__name__} declares signals(); trials run on the compiled fill "
            f"model, {args.recheck} sampled set(s) re-checked fill by fill against the event path",
            file=sys.stderr,
        )
    else:
        print(f"event path: {cls.__name__} declares no signals()", file=sys.stderr)
    stop = _StopFlag()
    previous = signal.signal(signal.SIGINT, stop.handle)
    try:
        report = _run_live(study, space, executor, stop, args, name)
    except RecheckFailed as exc:
        study.close("failed")
        executor.close()
        print(f"stom optimize: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        study.close("interrupted")
        executor.close()
        print(f"stom optimize: stopped; resume with --resume {name}", file=sys.stderr)
        return 130
    except BrokenProcessPool as exc:
        # A worker died (out of memory, killed): the finished trials are stored.
        study.close("failed")
        with contextlib.suppress(Exception):
            executor.close()
        print(
            f"stom optimize: a worker process died ({exc or 'no reason given'}); finished trials "
            f"are kept: resume with --resume {name}",
            file=sys.stderr,
        )
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    executor.close()
    study.close(report.state)
    _print_report(report, study, name, space, args)
    return 130 if report.state == "interrupted" else 0


class _StopFlag:
    """First Ctrl+C: finish the running trials and stop; the second: stop at once."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after the running trials (Ctrl+C again: now)", file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested


def _executor(settings: Settings, args: argparse.Namespace, spec: Any) -> Any:
    from engine.optimize.executors import LocalExecutor, RayExecutor

    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    if args.executor == "ray":
        return RayExecutor(spec, settings, args.jobs, args.ray_address)
    return LocalExecutor(spec, settings, args.jobs)


def _run_live(
    study: Any, space: Any, executor: Any, stop: _StopFlag, args: argparse.Namespace, name: str
) -> Any:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from engine.optimize.driver import budget, run_study
    from engine.optimize.leaderboard_text import leaderboard_table

    console = Console(file=sys.stderr)
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    total = budget(study.spec, space)
    task = bar.add_task(f"optimize {name}", total=total, completed=len(study.trials))
    if study.resumed:
        console.print(f"resuming {name}: {study.resumed} trials already done")
    with Live(Group(bar), console=console, refresh_per_second=4, transient=True) as live:

        def on_trial(record: Any, progress: Any) -> None:
            bar.update(task, completed=progress.done)
            console.print(trial_line(record), highlight=False, markup=False)
            table = leaderboard_table(progress.leaderboard[: args.top], space, study.spec.objective)
            live.update(Group(bar, table))

        return run_study(
            study, space, executor, on_trial=on_trial, should_stop=stop, rechecks=args.recheck
        )


def trial_line(record: Any) -> str:
    """One trial's path and throughput: ``trial 3 vector fast=5 slow=60: 1,234 trades/s``."""
    params = " ".join(f"{k}={v}" for k, v in record.params.items())
    line = f"trial {record.number} {record.path or '?'} {params}: "
    line += (
        f"{record.trades:,} trades in {record.wall_s:.3f} s = {record.trades_per_s:,.0f} trades/s"
    )
    if record.path_reason:
        line += f" (event path: {record.path_reason})"
    if record.recheck:
        line += f"; re-checked: {record.recheck} ({record.recheck_fills} fills)"
    return line


def _print_report(report: Any, study: Any, name: str, space: Any, args: argparse.Namespace) -> None:
    from rich.console import Console

    from engine.optimize.leaderboard_text import leaderboard_table, report_json

    progress = report.progress
    figures = progress.figures()
    if args.json:
        data = report_json(report, name, study.path, args.top)
        data["paths"] = {
            "vector": figures.vector_trials,
            "event": figures.event_trials,
            "event_reasons": progress.event_reasons,
            "rechecked": figures.rechecked,
            "combo_trades": figures.trades,
            "wall_s": figures.wall_s,
            "combo_trades_per_s": round(figures.combo_trades_per_s, 1),
        }
        print(msgspec.json.encode(data).decode())
        return
    err = Console(file=sys.stderr)
    err.print(leaderboard_table(progress.leaderboard[: args.top], space, study.spec.objective))
    note = f", stopped early: {report.stopped}" if report.stopped else ""
    print(
        f"study {name} {report.state}: {progress.done} trials "
        f"({progress.evaluated} run now, {progress.resumed} before){note}"
    )
    print(f"study file: {study.path}")
    print(
        f"paths: {figures.vector_trials} vector, {figures.event_trials} event; "
        f"re-checked against the event path: {figures.rechecked} (fills identical)"
    )
    for reason, count in sorted(progress.event_reasons.items()):
        print(f"event path ({count} trials): {reason}")
    print(
        f"throughput: {figures.trades:,} combo-trades in {figures.wall_s:.2f} s = "
        f"{figures.combo_trades_per_s:,.0f} combo-trades/s"
    )
    if report.state == "interrupted":
        print(f"resume with: stom optimize --resume {name}")
    if report.best is None:
        print("no feasible trial: relax --min-trades / --max-drawdown or widen the search")
        return
    best = report.best
    print(f"best {study.spec.objective}: {best.score:.6g}")
    print("best parameters: " + " ".join(f"{k}={v}" for k, v in best.params.items()))
