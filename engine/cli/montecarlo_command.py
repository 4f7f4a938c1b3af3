"""``stom montecarlo RESULT``: Monte Carlo of a stored backtest's round trips (see
:mod:`engine.optimize.montecarlo`), with histograms on the terminal or ``--json``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings


def add_montecarlo_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "montecarlo", parents=[common], help="Monte Carlo of a stored backtest's trades"
    )
    add_result_arguments(parser)
    add_simulation_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_result_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="result id (see `stom backtest`) or its folder")
    parser.add_argument("--results", type=Path, help="default: <data.dir>/backtests")


def add_simulation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10_000, help="simulated runs (10,000)")
    parser.add_argument(
        "--method",
        choices=("shuffle", "bootstrap"),
        default="shuffle",
        help="shuffle the trades' order, or draw trades with replacement",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    parser.add_argument(
        "--ruin",
        type=float,
        default=0.5,
        metavar="FRACTION",
        help="ruin: equity at or below this fraction of the start (0.5)",
    )


def load_stored(settings: Settings, args: argparse.Namespace) -> Any:
    """The stored result named by ``args.result`` (an id, or a result folder's path)."""
    from engine.backtest.results import load_result

    given = Path(args.result)
    if given.is_dir():
        return load_result(given.parent, given.name)
    results = args.results or Path(settings.data.dir).expanduser() / "backtests"
    return load_result(results, args.result)


def simulate_stored(stored: Any, args: argparse.Namespace) -> Any:
    from engine.optimize.montecarlo import simulate, trade_pnls

    return simulate(
        trade_pnls(stored.trades),
        float(stored.summary.initial_equity),
        runs=args.runs,
        method=args.method,
        seed=args.seed,
        ruin_fraction=args.ruin,
    )


def run_montecarlo_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        stored = load_stored(settings, args)
        result = simulate_stored(stored, args)
    except ValueError as exc:
        print(f"stom montecarlo: {args.result}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.encode(result.summary).decode())
        return 0
    for line in summary_lines(result, stored.summary.currency):
        print(line)
    return 0


def summary_lines(result: Any, currency: str) -> list[str]:
    from engine.optimize.charts import histogram

    s = result.summary
    lines = [
        f"Monte Carlo ({s.method}): {s.runs:,} runs over {s.trades:,} round trips, seed {s.seed}",
        f"{'':>22} {'5 %':>16} {'median':>16} {'95 %':>16}",
        _row("final equity", s.final_equity, "{:,.0f}") + f" {currency}",
        _row("max drawdown", s.max_drawdown, "{:.2%}"),
        _row("max drawdown amount", s.max_drawdown_amount, "{:,.0f}") + f" {currency}",
        f"probability of ruin (equity <= {s.ruin_fraction:.0%} of start): "
        f"{s.probability_of_ruin:.2%}",
        "",
    ]
    if s.method == "bootstrap":
        lines += [*histogram(result.final_equity, title=f"final equity ({currency})"), ""]
    lines += histogram(result.max_drawdown, title="maximum drawdown", percent=True)
    return lines


def _row(name: str, interval: Any, fmt: str) -> str:
    cells = "".join(f"{fmt.format(v):>17}" for v in (interval.p5, interval.p50, interval.p95))
    return f"{name:>22}{cells}"
