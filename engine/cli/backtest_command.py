"""``stom backtest FILE``: a strategy over recorded ticks, in a worker process, with a progress
bar on the terminal (stderr) and the result stored under ``<data.dir>/backtests``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings
from engine.storage.tick_store import store_root


def add_backtest_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    backtest = sub.add_parser(
        "backtest", parents=[common], help="run a strategy file over recorded ticks"
    )
    backtest.add_argument("strategy_file", type=Path, help="the strategy's .py file")
    backtest.add_argument("--class", dest="strategy_class", help="class to run (file has several)")
    backtest.add_argument("--data", type=Path, help="tick store root (default: <data.dir>/ticks)")
    backtest.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC)")
    backtest.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC)")
    backtest.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="repeatable"
    )
    backtest.add_argument(
        "--instrument", action="append", default=[], metavar="ID", help="repeatable"
    )
    backtest.add_argument("--max-order-notional", help="the strategy's own budget per order")
    backtest.add_argument("--max-position-notional", help="the strategy's own position budget")
    backtest.add_argument("--results", type=Path, help="default: <data.dir>/backtests")
    backtest.add_argument("--json", action="store_true", help="print the summary as JSON")


def _params(items: list[str]) -> dict[str, int | float]:
    params: dict[str, int | float] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--param {item!r}: expected NAME=VALUE, e.g. --param fast=20")
        try:
            value: int | float = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"--param {item!r}: {text!r} is not a number") from None
        params[name.strip()] = value
    return params


def run_backtest_command(settings: Settings, args: argparse.Namespace) -> int:
    from engine.backtest.request import BacktestRequest
    from engine.backtest.worker import BacktestFailed, run_in_worker

    data_dir = Path(settings.data.dir).expanduser()
    if not args.strategy_file.is_file():
        print(f"stom backtest: {args.strategy_file}: no such file", file=sys.stderr)
        return 2
    try:
        request = BacktestRequest(
            strategy_file=str(args.strategy_file.resolve()),
            strategy_class=args.strategy_class,
            data_dir=str(args.data or store_root(settings.data.dir, settings.recorder.dir)),
            results_dir=str(args.results or data_dir / "backtests"),
            params=_params(args.param),
            instruments=list(args.instrument),
            start=args.start,
            end=args.end,
            max_order_notional=args.max_order_notional,
            max_position_notional=args.max_position_notional,
        )
    except ValueError as exc:
        print(f"stom backtest: {exc}", file=sys.stderr)
        return 2
    try:
        summary = _run_with_progress(request, settings, run_in_worker)
    except BacktestFailed as exc:
        print(f"stom backtest: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(msgspec.json.encode(summary).decode())
    else:
        _print_summary(summary)
    return 0


def _run_with_progress(request: Any, settings: Settings, run_in_worker: Any) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    console = Console(file=sys.stderr)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"backtest {Path(request.strategy_file).name}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_in_worker(request, settings, on_progress)


def _print_summary(summary: Any) -> None:
    m, t, bh = summary.metrics, summary.trade_stats, summary.buy_and_hold

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f} %"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def seconds(value: int | None) -> str:
        return "-" if value is None else f"{value / 1e9:.1f} s"

    rows = [
        ("result", summary.id),
        ("strategy", f"{summary.strategy} {summary.params}"),
        ("instruments", ", ".join(summary.instruments)),
        ("state", summary.strategy_state),
        ("equity", f"{summary.initial_equity} -> {summary.final_equity} {summary.currency}"),
        ("pnl / fees", f"{summary.pnl} / {summary.fees} {summary.currency}"),
        ("total return", f"{pct(m.total_return)}   buy-and-hold {pct(bh.total_return)}"),
        ("annualized", f"{pct(m.annualized_return)}   buy-and-hold {pct(bh.annualized_return)}"),
        (
            "sharpe / sortino",
            f"{num(m.sharpe)} / {num(m.sortino)}   buy-and-hold "
            f"{num(bh.sharpe)} / {num(bh.sortino)}",
        ),
        (
            "max drawdown",
            f"{pct(m.max_drawdown)} over {seconds(m.max_drawdown_duration_ns)}"
            f"   buy-and-hold {pct(bh.max_drawdown)}",
        ),
        (
            "trades",
            f"{t.trades}  win rate {pct(t.win_rate)}  profit factor "
            f"{num(t.profit_factor)}  expectancy {num(t.expectancy)}",
        ),
        ("hold / exposure", f"{seconds(t.average_hold_ns)} / {pct(t.exposure)}"),
        ("orders / fills", f"{summary.orders} ({summary.denied} denied) / {summary.fills}"),
        (
            "replay",
            f"{summary.ticks:,} events in {summary.wall_s} s ({summary.ticks_per_s:,.0f} events/s)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
