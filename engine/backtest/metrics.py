"""Backtest metrics: returns, risk and trade statistics, and the same for buy-and-hold.

Statistics are floats (they are estimates, not money); money totals (PnL, fees) are exact
decimals computed from raw integers elsewhere. Conventions:

- The equity curve is sampled at a fixed interval of replay time (:class:`EquitySampler`),
  bounded in size: when it fills, every other point is dropped and the interval doubles.
- Sharpe and Sortino use the returns between samples, annualized by the number of sample
  intervals in a 365-day year (markets here trade every day; a risk-free rate of 0).
- Annualized return compounds the total return over the replayed span (None when the span is
  too short for the figure to mean anything: under one hour).
- Max drawdown is the largest fall from a peak of the sampled curve, as a fraction of the peak;
  its duration runs from that peak until the curve regains it (or the end of the run).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import msgspec

from engine.backtest.trades import RoundTrip

NS_PER_YEAR = 365 * 86_400 * 1_000_000_000
MIN_ANNUALIZE_NS = 3_600 * 1_000_000_000
MAX_POINTS = 4_096
"""Most equity points kept (memory stays bounded however long the run)."""


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    """The figures of one equity curve (the strategy's, or buy-and-hold's)."""

    total_return: float
    annualized_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    """Fraction of the peak (0.05 = 5 %)."""
    max_drawdown_duration_ns: int


class TradeStats(msgspec.Struct, frozen=True, kw_only=True):
    """Statistics of the round-trip trades."""

    trades: int
    win_rate: float | None
    profit_factor: float | None
    """Gross profit over gross loss (None with no losing trade)."""
    expectancy: float | None
    """Average net PnL per trade, in the quote currency."""
    average_hold_ns: int | None
    exposure: float
    """Fraction of the replayed time with a position open."""


class EquitySampler:
    """Equity at a fixed interval of replay time, at most :data:`MAX_POINTS` points."""

    __slots__ = ("buy_hold", "interval_ns", "next_ns", "points", "strategy")

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.next_ns = 0
        self.points: list[int] = []
        self.strategy: list[float] = []
        self.buy_hold: list[float] = []

    def add(self, ts: int, equity: float, buy_hold: float) -> None:
        self.points.append(ts)
        self.strategy.append(equity)
        self.buy_hold.append(buy_hold)
        if len(self.points) > MAX_POINTS:
            # Keep the first point and every other one after it; the interval doubles.
            self.points = self.points[::2]
            self.strategy = self.strategy[::2]
            self.buy_hold = self.buy_hold[::2]
            self.interval_ns *= 2
        self.next_ns = ts - ts % self.interval_ns + self.interval_ns


def curve_metrics(times: Sequence[int], equity: Sequence[float], span_ns: int) -> Metrics:
    if len(equity) < 2 or equity[0] <= 0:
        return Metrics(
            total_return=0.0,
            annualized_return=None,
            sharpe=None,
            sortino=None,
            max_drawdown=0.0,
            max_drawdown_duration_ns=0,
        )
    total = equity[-1] / equity[0] - 1
    annualized = None
    if span_ns >= MIN_ANNUALIZE_NS and equity[-1] > 0:
        try:
            annualized = (equity[-1] / equity[0]) ** (NS_PER_YEAR / span_ns) - 1
        except OverflowError:
            annualized = None
    returns = [b / a - 1 for a, b in itertools.pairwise(equity) if a > 0]
    interval = (times[-1] - times[0]) / max(1, len(times) - 1)
    periods = NS_PER_YEAR / interval if interval > 0 else 0.0
    sharpe = sortino = None
    if len(returns) >= 2 and periods:
        mean = sum(returns) / len(returns)
        variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        if variance > 0:
            sharpe = mean / math.sqrt(variance) * math.sqrt(periods)
        downside = sum(min(r, 0.0) ** 2 for r in returns) / len(returns)
        if downside > 0:
            sortino = mean / math.sqrt(downside) * math.sqrt(periods)
    drawdown, duration = _max_drawdown(times, equity)
    return Metrics(
        total_return=total,
        annualized_return=annualized,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=drawdown,
        max_drawdown_duration_ns=duration,
    )


def _max_drawdown(times: Sequence[int], equity: Sequence[float]) -> tuple[float, int]:
    peak, peak_ts = equity[0], times[0]
    worst, worst_peak_ts = 0.0, times[0]
    recovered: dict[int, int] = {}
    # From the second point: the first is the starting peak, not its own recovery.
    for ts, value in zip(times[1:], equity[1:], strict=True):
        if value >= peak:
            if peak_ts not in recovered:
                recovered[peak_ts] = ts
            peak, peak_ts = value, ts
            continue
        fall = 1 - value / peak if peak > 0 else 0.0
        if fall > worst:
            worst, worst_peak_ts = fall, peak_ts
    if worst == 0.0:
        return 0.0, 0
    end = recovered.get(worst_peak_ts)
    if end is None or end <= worst_peak_ts:
        end = times[-1]
    return worst, end - worst_peak_ts


def trade_stats(
    trades: Sequence[RoundTrip], exposure_ns: int, span_ns: int, pnl_of: dict[int, float]
) -> TradeStats:
    """``pnl_of`` maps each trade's ``id()`` to its net PnL as a float in the quote currency."""
    if not trades:
        return TradeStats(
            trades=0,
            win_rate=None,
            profit_factor=None,
            expectancy=None,
            average_hold_ns=None,
            exposure=exposure_ns / span_ns if span_ns > 0 else 0.0,
        )
    pnls = [pnl_of[id(trade)] for trade in trades]
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    return TradeStats(
        trades=len(trades),
        win_rate=len(wins) / len(trades),
        profit_factor=sum(wins) / sum(losses) if losses else None,
        expectancy=sum(pnls) / len(pnls),
        average_hold_ns=sum(trade.hold_ns for trade in trades) // len(trades),
        exposure=min(1.0, exposure_ns / span_ns) if span_ns > 0 else 0.0,
    )
