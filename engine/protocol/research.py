"""Robustness payloads: walk-forward runs (``walkforward.*``) and Monte Carlo runs of a stored
backtest (``montecarlo.*``), published retained at ``walkforward/progress`` and
``montecarlo/progress`` and returned by the ``*.status`` commands.

Returns, ratios and equity figures are floats (estimates); money totals stay decimal text.
Timestamps are integer ns UTC.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.protocol.payloads import Payload

ResearchStateText = Literal["starting", "running", "done", "cancelled", "failed"]


class PeriodInfo(msgspec.Struct, kw_only=True):
    """One backtest's headline figures (a window's in-sample or out-of-sample days)."""

    start: str
    end: str
    total_return: float
    annualized_return: float | None
    sharpe: float | None
    max_drawdown: float
    trades: int
    pnl: str
    """Decimal text, quote currency."""


class WindowInfo(msgspec.Struct, kw_only=True):
    """One walk-forward window: the parameters its optimization chose and how they did."""

    number: int
    best_params: dict[str, bool | int | float | str]
    trials: int
    in_sample: PeriodInfo
    out_of_sample: PeriodInfo
    efficiency: float | None
    """This window's walk-forward efficiency: out-of-sample annualized return / in-sample
    annualized return (null when the in-sample figure is 0 or missing)."""


class WalkForwardProgress(Payload, kw_only=True):
    """Retained at ``walkforward/progress``: the newest walk-forward run, one message per
    finished window (and its start and end)."""

    ts: int
    run_id: str
    name: str
    """The run's name: its studies are stored under ``<data.dir>/walkforward/<name>``."""
    strategy: str
    mode: str
    """``rolling``, ``anchored`` or ``split``."""
    method: str
    objective: str
    state: ResearchStateText
    done: int
    """Windows finished."""
    total: int
    windows: list[WindowInfo]
    efficiency: float | None = None
    """Mean out-of-sample annualized return / mean in-sample annualized return, over the
    windows finished so far."""
    efficiency_definition: str = ""
    error: str | None = None


class IntervalInfo(msgspec.Struct, kw_only=True):
    """Percentiles of one simulated distribution and its mean."""

    p5: float
    p50: float
    p95: float
    mean: float


class MonteCarloProgress(Payload, kw_only=True):
    """Retained at ``montecarlo/progress``: the newest Monte Carlo run of a stored backtest."""

    ts: int
    run_id: str
    result_id: str
    """The backtest result whose round trips are resampled."""
    state: ResearchStateText
    method: str
    """``shuffle`` (the same trades in a random order) or ``bootstrap`` (drawn with
    replacement)."""
    runs: int
    seed: int
    ruin_fraction: float
    """Ruin: the equity at or below this fraction of the initial equity at any point."""
    currency: str = ""
    trades: int = 0
    initial_equity: float = 0.0
    percentiles: list[int] = msgspec.field(default_factory=list)
    """The fan's percentiles (5, 25, 50, 75, 95)."""
    fan_x: list[int] = msgspec.field(default_factory=list)
    """Trade numbers of the fan's points (0: the start; at most 200 points)."""
    fan: list[list[float]] = msgspec.field(default_factory=list)
    """One equity curve per percentile, at the trade numbers of ``fan_x``."""
    fan_runs: int = 0
    """Runs the fan is drawn from (all of them, or the first block of a very large run)."""
    final_equity: IntervalInfo | None = None
    max_drawdown: IntervalInfo | None = None
    """Fraction of the running peak."""
    probability_of_ruin: float | None = None
    error: str | None = None
