"""``stom walkforward FILE --train 5d --test 1d``: optimize on each training window, test the best
parameters on the days after it, and report in-sample against out-of-sample figures per window
and the walk-forward efficiency (see :mod:`engine.optimize.walkforward`).

Each window's study is stored under ``<data.dir>/walkforward/<name>/window-<n>``; running the same
command again resumes it without repeating finished trials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings
from engine.storage.paths import store_root


def add_walkforward_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "walkforward", parents=[common], help="walk-forward test of a strategy's optimization"
    )
    p.add_argument("strategy_file", type=Path, help="the strategy's .py file")
    p.add_argument("--class", dest="strategy_class", help="class to run (file has several)")
    p.add_argument("--data", type=Path, help="tick store root (default: <data.dir>/ticks)")
    p.add_argument("--instrument", action="append", default=[], metavar="ID", help="repeatable")
    p.add_argument("--train", default="5d", help="recorded days per training window (5d)")
    p.add_argument("--test", default="1d", help="recorded days per test window (1d)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--anchored", action="store_true", help="training always from day one")
    mode.add_argument("--split", action="store_true", help="one train/test split only")
    p.add_argument("--method", choices=("grid", "random", "ga"), default="grid")
    p.add_argument("--objective", default="sharpe", help="as for stom optimize")
    p.add_argument("--trials", type=int, default=50, help="most parameter sets per window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH:STEP|NAME=VALUE",
        help="as for stom optimize",
    )
    p.add_argument("--min-trades", type=int, default=0, help="fewer trades: infeasible")
    p.add_argument("--jobs", type=int, help="worker processes (default: every core)")
    p.add_argument("--name", help="run name (default: derived from the options)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_walkforward_command(settings: Settings, args: argparse.Namespace) -> int:
    from engine.optimize.objective import check_objective
    from engine.optimize.space import parse_override
    from engine.optimize.study import StudySpec, check_name
    from engine.optimize.walkforward import parse_days, run_walkforward
    from engine.strategy.loader import StrategyLoadError

    mode = "anchored" if args.anchored else "split" if args.split else "rolling"
    try:
        if not args.strategy_file.is_file():
            raise ValueError(f"{args.strategy_file}: no such file")
        train, test = parse_days(args.train, "--train"), parse_days(args.test, "--test")
        overrides = {}
        for item in args.param:
            name, parts = parse_override(item)
            overrides[name] = ":".join(parts)
        data_dir = args.data or store_root(settings.data.dir, settings.recorder.dir)
        spec = StudySpec(
            strategy_file=str(args.strategy_file.resolve()),
            strategy_class=args.strategy_class,
            data_dir=str(Path(data_dir).resolve()),
            instruments=list(args.instrument),
            method=args.method,
            objective=check_objective(args.objective),
            trials=args.trials,
            seed=args.seed,
            overrides=overrides,
            min_trades=args.min_trades,
        )
        name = check_name(args.name or f"{args.strategy_file.stem}-{args.method}-{mode}-"
                          f"{train}d-{test}d")  # fmt: skip
        root = Path(settings.data.dir).expanduser() / "walkforward"
        result = run_walkforward(
            spec, settings, root, name, train=train, test=test, mode=mode, jobs=args.jobs,
            on_window=None if args.json else _print_window,
        )  # fmt: skip
    except (ValueError, StrategyLoadError) as exc:
        print(f"stom walkforward: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 0
    wfe = "n/a" if result.efficiency is None else f"{result.efficiency:.3f}"
    print(f"walk-forward efficiency: {wfe} ({result.efficiency_definition})")
    return 0


def _print_window(window: Any) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    ins, oos = window.in_sample, window.out_of_sample
    print(f"window {window.number}: best {window.best_params} ({window.trials} trials)")
    for label, figures in (("in-sample", ins), ("out-of-sample", oos)):
        print(f"  {label:>13} {figures.start} .. {figures.end}: return "
              f"{pct(figures.total_return)}, annualized {pct(figures.annualized_return)}, "
              f"max drawdown {pct(figures.max_drawdown)}, {figures.trades} trades, "
              f"pnl {figures.pnl}")  # fmt: skip
