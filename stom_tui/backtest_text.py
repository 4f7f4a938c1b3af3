"""Text for the backtest screen: parameters in and out, the metrics table, trade rows, and
the words for a run's state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from rich.style import Style
from rich.table import Table
from rich.text import Text

from engine.protocol.strategies import (
    BacktestProgress,
    BacktestResult,
    MetricsInfo,
    ParamInfo,
    TradeInfo,
)
from stom_tui.formatting import MISSING, format_decimal, format_money
from stom_tui.widgets.sortable_table import SortColumn, SortRow, SortValue

NS_PER_S = 1_000_000_000


def parse_params(text: str) -> dict[str, int | float]:
    """``"fast=20 slow=50, size=0.01"`` → ``{"fast": 20, ...}``; ValueError names the bad part."""
    params: dict[str, int | float] = {}
    for part in text.replace(",", " ").split():
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise ValueError(f"{part!r} is not name=value")
        try:
            number: int | float = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not a number") from None
        params[name] = number
    return params


def format_params(params: list[ParamInfo]) -> str:
    """One line per parameter: its range and step, and what it is."""
    lines = []
    for param in params:
        span = f"{param.low}…{param.high}" if param.low is not None else "any"
        step = f" step {param.step}" if param.step is not None else ""
        doc = f": {param.doc}" if param.doc else ""
        lines.append(f"{param.name} [{span}{step}] default {param.default}{doc}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:+.2%}"


def _ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _duration(ns: int | None) -> str:
    if ns is None:
        return MISSING
    seconds = ns / NS_PER_S
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3_600:.1f}h"


def _curve_rows(metrics: MetricsInfo) -> list[str]:
    return [
        _pct(metrics.total_return),
        _pct(metrics.annualized_return),
        _ratio(metrics.sharpe),
        _ratio(metrics.sortino),
        f"{metrics.max_drawdown:.2%}",
        _duration(metrics.max_drawdown_duration_ns),
    ]


def metrics_table(result: BacktestResult) -> Table:
    """Strategy beside buy-and-hold, then the trade statistics and money totals."""
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, expand=False)
    table.add_column("Metric", style="dim")
    table.add_column("Strategy", justify="right")
    table.add_column("Buy & hold", justify="right")
    table.add_column("", style="dim")
    table.add_column("", justify="right")
    stats = result.trade_stats
    names = ["Total return", "Annualized", "Sharpe", "Sortino", "Max drawdown", "Drawdown time"]
    right = [
        ("Trades", str(stats.trades)),
        ("Win rate", MISSING if stats.win_rate is None else f"{stats.win_rate:.1%}"),
        ("Profit factor", _ratio(stats.profit_factor)),
        (
            "Expectancy",
            MISSING if stats.expectancy is None else format_money(str(stats.expectancy)),
        ),
        ("Avg hold", _duration(stats.average_hold_ns)),
        ("Exposure", f"{stats.exposure:.1%}"),
    ]
    for name, mine, hold, (label, value) in zip(
        names, _curve_rows(result.metrics), _curve_rows(result.buy_and_hold), right, strict=True
    ):
        table.add_row(name, mine, hold, label, value)
    table.add_row(
        "PnL", format_money(result.pnl, signed=True), "", "Fees", format_money(result.fees)
    )
    return table


def outcome(result: BacktestResult) -> tuple[str, bool]:
    """What became of the run, and whether it went wrong: a stored result is a finished run;
    its ``strategy_state`` is the strategy's own state at the end (``running`` for one that ran
    to the last tick), worth naming only when the strategy failed."""
    state = result.strategy_state
    if state.startswith("failed") or state.startswith("error"):
        return f"finished, but the strategy stopped: {state}", True
    return "finished", False


def result_title(result: BacktestResult) -> Text:
    days = f"{result.start or 'first day'} – {result.end or 'last day'}"
    params = " ".join(f"{k}={v}" for k, v in result.params.items()) or "defaults"
    state, bad = outcome(result)
    return Text.assemble(
        (result.strategy, "bold"),
        " ",
        (state, "bold red" if bad else "bold"),
        f" · {', '.join(result.instruments)} · {days} · {params}\n",
        (
            f"{result.ticks:,} ticks in {result.wall_s:.1f}s ({result.ticks_per_s:,.0f}/s) · "
            f"{result.orders} orders, {result.fills} fills · {result.trades_total:,} round trips",
            "dim",
        ),
    )


def run_state(progress: BacktestProgress) -> str:
    """A run's state in words: ``done`` is "finished"; a cancel arrives as ``failed`` with the
    error ``cancelled`` and is named as such."""
    if progress.state == "done":
        return "finished"
    if progress.state == "failed" and progress.error == "cancelled":
        return "cancelled"
    return progress.state


TRADE_COLUMNS = (
    SortColumn("Exit"),
    SortColumn("Instrument"),
    SortColumn("Side"),
    SortColumn("PnL", numeric=True),
    SortColumn("Qty", numeric=True),
    SortColumn("Entry price", numeric=True),
    SortColumn("Exit price", numeric=True),
    SortColumn("Entry"),
    SortColumn("Fees", numeric=True),
)
"""The trades table's columns: when it closed, what, and the money first (80 columns show
exit time to PnL without scrolling)."""


def _number(text: str) -> float | None:
    try:
        return float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None


def trade_row(
    key: str, trade: TradeInfo, clock: Callable[[int], str], profit: Style, loss: Style
) -> SortRow:
    """One round trip of the trades table (see :data:`TRADE_COLUMNS`)."""
    pnl = format_money(trade.pnl, signed=True)
    style = loss if pnl.startswith("-") else profit if pnl != "0" else Style()
    cells = [
        Text(clock(trade.exit_ts)),
        Text(trade.instrument_id),
        Text(trade.direction),
        Text(pnl, style=style, justify="right"),
        Text(format_decimal(trade.quantity), justify="right"),
        Text(format_money(trade.entry_price), justify="right"),
        Text(format_money(trade.exit_price), justify="right"),
        Text(clock(trade.entry_ts)),
        Text(format_money(trade.fees), justify="right"),
    ]
    values: list[SortValue] = [
        trade.exit_ts,
        trade.instrument_id,
        trade.direction,
        _number(trade.pnl),
        _number(trade.quantity),
        _number(trade.entry_price),
        _number(trade.exit_price),
        trade.entry_ts,
        _number(trade.fees),
    ]
    return SortRow(key, cells, values)
