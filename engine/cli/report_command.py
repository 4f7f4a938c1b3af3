"""``stom report RESULT``: a stored backtest's equity and drawdown as terminal charts, with a
Monte Carlo, and ``--html FILE`` for the same as a self-contained HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.montecarlo_command import (
    add_result_arguments,
    add_simulation_arguments,
    load_stored,
    simulate_stored,
    summary_lines,
)
from engine.config.settings import Settings


def add_report_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report", parents=[common], help="charts and an HTML report of a stored backtest"
    )
    add_result_arguments(parser)
    parser.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report here")
    add_simulation_arguments(parser)
    parser.set_defaults(runs=2_000)


def run_report_command(settings: Settings, args: argparse.Namespace) -> int:
    from engine.optimize.charts import drawdown_series, line_chart
    from engine.optimize.report import render_report

    try:
        stored = load_stored(settings, args)
    except ValueError as exc:
        print(f"stom report: {args.result}: {exc}", file=sys.stderr)
        return 2
    summary = stored.summary
    equity = stored.equity["strategy"].to_numpy() if stored.equity.height else []
    montecarlo = None
    if stored.trades.height:
        try:
            montecarlo = simulate_stored(stored, args)
        except ValueError as exc:
            print(f"stom report: {args.result}: {exc}", file=sys.stderr)
            return 2
    for line in line_chart(equity, title=f"equity ({summary.currency})"):
        print(line)
    print()
    for line in line_chart(drawdown_series(equity), title="drawdown (fraction of the peak)"):
        print(line)
    print()
    if montecarlo is not None:
        for line in summary_lines(montecarlo, summary.currency):
            print(line)
    else:
        print("no closed trades: no Monte Carlo")
    if args.html is not None:
        try:
            args.html.write_text(render_report(summary, equity, montecarlo), encoding="utf-8")
        except OSError as exc:
            print(f"stom report: cannot write {args.html}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"\nreport written to {args.html}")
    return 0
