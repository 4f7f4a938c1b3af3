"""Objectives and constraints: one number per finished backtest, higher is better.

- ``sharpe`` / ``sortino``: of the sampled equity curve (see :mod:`engine.backtest.metrics`);
- ``return_over_drawdown``: total return divided by the maximum drawdown (a run that never drew
  down scores its return times 1 / 0.0001, i.e. it is capped rather than infinite);
- ``profit_factor``: gross profit over gross loss of the round trips (no losing trade: capped
  at :data:`CAP`);
- ``total_return``: final equity over initial, minus one.

A trial is *infeasible* when it breaks a constraint (fewer trades than ``min_trades``, a deeper
drawdown than ``max_drawdown``) or when the metric is undefined (no variance, no trades): it is
kept, shown with the reason, and ranks below every feasible trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

import msgspec

from engine.backtest.request import BacktestSummary

ObjectiveName = Literal[
    "sharpe", "sortino", "return_over_drawdown", "profit_factor", "total_return"
]
OBJECTIVES: tuple[str, ...] = get_args(ObjectiveName)
CAP = 1_000.0
"""Ceiling of ratios that would otherwise be infinite."""
MIN_DRAWDOWN = 0.0001


@dataclass(frozen=True, slots=True)
class Constraints:
    """Limits a trial must meet to be ranked."""

    min_trades: int = 0
    max_drawdown: float | None = None
    """Fraction (0.2 = 20 %); None: no cap."""


class TrialMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """The figures of one trial kept in the study (a small part of the backtest summary)."""

    total_return: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    profit_factor: float | None
    trades: int
    win_rate: float | None
    pnl: str
    """Exact PnL in the quote currency (text, as in the summary)."""
    ticks: int


def trial_metrics(summary: BacktestSummary) -> TrialMetrics:
    m, t = summary.metrics, summary.trade_stats
    return TrialMetrics(
        total_return=m.total_return,
        sharpe=m.sharpe,
        sortino=m.sortino,
        max_drawdown=m.max_drawdown,
        profit_factor=t.profit_factor,
        trades=t.trades,
        win_rate=t.win_rate,
        pnl=summary.pnl,
        ticks=summary.ticks,
    )


def check_objective(name: str) -> ObjectiveName:
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r}: expected one of {', '.join(OBJECTIVES)}")
    return cast(ObjectiveName, name)  # checked against OBJECTIVES just above


def score(
    metrics: TrialMetrics, objective: ObjectiveName, constraints: Constraints
) -> tuple[float | None, str]:
    """(value, reason): value None means infeasible, and reason says why."""
    if metrics.trades < constraints.min_trades:
        return None, f"{metrics.trades} trades < minimum {constraints.min_trades}"
    if constraints.max_drawdown is not None and metrics.max_drawdown > constraints.max_drawdown:
        return None, (f"drawdown {metrics.max_drawdown:.2%} > cap {constraints.max_drawdown:.2%}")
    value = _value(metrics, objective)
    if value is None:
        return None, f"{objective} undefined"
    return value, ""


def _value(metrics: TrialMetrics, objective: ObjectiveName) -> float | None:
    if objective == "sharpe":
        return metrics.sharpe
    if objective == "sortino":
        return metrics.sortino
    if objective == "total_return":
        return metrics.total_return
    if objective == "profit_factor":
        if metrics.trades == 0 or (metrics.profit_factor is None and not metrics.win_rate):
            return None  # no trade, or no winner and no loser: gross profit 0 / gross loss 0
        return CAP if metrics.profit_factor is None else min(CAP, metrics.profit_factor)
    drawdown = max(metrics.max_drawdown, MIN_DRAWDOWN)
    return max(-CAP, min(CAP, metrics.total_return / drawdown))


def rank_key(value: float | None) -> float:
    """Sort key (descending is best): infeasible below every number."""
    return float("-inf") if value is None else value
