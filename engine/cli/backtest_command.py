"""``stom backtest FILE``: a strategy over recorded ticks, in a worker process, with a progress
bar on the terminal (stderr) and the result stored under ``<data.dir>/backtests``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from engine.config.settings import Settings
from engine.storage.paths import store_root
from engine.strategy.api import ParamValue


def add_backtest_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    backtest = sub.add_parser(
        "backtest", parents=[common], help="run a strategy file over recorded ticks"
    )
    backtest.add_argument(
        "strategy_file", type=Path, nargs="?", help="the strategy's .py file (or --stom-buy/-sell)"
    )
    backtest.add_argument("--stom-buy", type=Path, help="a STOM buy condition text")
    backtest.add_argument("--stom-sell", type=Path, help="a STOM sell condition text")
    backtest.add_argument("--class", dest="strategy_class", help="class to run (file has several)")
    backtest.add_argument("--data", type=Path, help="tick store root (default: <data.dir>/ticks)")
    backtest.add_argument(
        "--from",
        dest="start",
        metavar="DATE|DATETIME",
        help="first day YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS], in --tz",
    )
    backtest.add_argument(
        "--to",
        dest="end",
        metavar="DATE|DATETIME",
        help="last day (inclusive), or a date-time (exclusive), in --tz",
    )
    backtest.add_argument(
        "--tz", default="UTC", help="time zone of --from/--to (IANA name; default UTC)"
    )
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


def _params(items: list[str]) -> dict[str, ParamValue]:
    """``NAME=VALUE`` pairs: a whole number, a decimal, true/false, or text (a choice); the
    strategy's ``Param`` then checks the value against its kind and bounds."""
    params: dict[str, ParamValue] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.strip() or not text.strip():
            raise ValueError(f"--param {item!r}: expected NAME=VALUE, e.g. --param fast=20")
        params[name.strip()] = _value(text.strip())
    return params


def _value(text: str) -> ParamValue:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _commonest_denial(results_dir: str, result_id: str) -> str:
    from collections import Counter

    from engine.backtest.results import load_result

    reasons = Counter(load_result(results_dir, result_id).orders["reason"].to_list())
    reason, count = reasons.most_common(1)[0]
    return f"{count:,} by {reason or 'no stated reason'}"


def _params_or_exit(items: list[str]) -> dict[str, ParamValue] | None:
    try:
        return _params(items)
    except ValueError as exc:
        print(f"stom backtest: {exc}", file=sys.stderr)
        return None


def run_backtest_command(settings: Settings, args: argparse.Namespace) -> int:
    from engine.backtest.request import BacktestRequest
    from engine.backtest.time_range import parse_time_range
    from engine.backtest.worker import BacktestFailed, run_in_worker

    data_dir = Path(settings.data.dir).expanduser()
    params = _params_or_exit(args.param)
    if params is None:
        return 2
    if args.stom_buy or args.stom_sell:
        from engine.strategy.stom_conditions import TextProblem
        from engine.strategy.stom_wrapper import write_wrapper

        if not (args.stom_buy and args.stom_sell) or args.strategy_file:
            print("stom backtest: give --stom-buy and --stom-sell together, without a "
                  "strategy file", file=sys.stderr)  # fmt: skip
            return 2
        try:
            args.strategy_file, params = write_wrapper(
                args.stom_buy, args.stom_sell, params, data_dir / "stom_strategies"
            )
        except TextProblem as exc:
            print(f"stom backtest: {exc}", file=sys.stderr)
            return 2
    if args.strategy_file is None:
        print(
            "stom backtest: name a strategy file (or --stom-buy and --stom-sell)", file=sys.stderr
        )
        return 2
    if not args.strategy_file.is_file():
        print(f"stom backtest: {args.strategy_file}: no such file", file=sys.stderr)
        return 2
    try:
        # Checked here too, so a bad --from/--to/--tz is a usage error before any worker starts.
        parse_time_range(args.start, args.end, args.tz)
        request = BacktestRequest(
            strategy_file=str(args.strategy_file.resolve()),
            strategy_class=args.strategy_class,
            data_dir=str(args.data or store_root(settings.data.dir, settings.recorder.dir)),
            results_dir=str(args.results or data_dir / "backtests"),
            params=params,
            instruments=list(args.instrument),
            start=args.start,
            end=args.end,
            tz=args.tz,
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
    if summary.orders and summary.denied == summary.orders:
        # Zero trades because risk refused everything is not a result: say which rule.
        print(
            f"stom backtest: all {summary.orders:,} orders were denied "
            f"({_commonest_denial(request.results_dir, summary.id)}); the run has no trades",
            file=sys.stderr,
        )
        return 1
    if summary.strategy_state.startswith("failed"):
        # The run is stored (its fills up to the failure are real), but it is not a result.
        print(f"stom backtest: the strategy stopped: {summary.strategy_state}", file=sys.stderr)
        return 1
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
