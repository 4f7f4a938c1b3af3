"""Monte Carlo of a backtest's round trips: how much of its result was the order of its trades.

Two methods over the trades' net PnL (after fees, quote currency):

* ``shuffle``: every run is a random permutation of the same trades. The final equity is the same
  in every run; the maximum drawdown and the lowest equity are what vary.
* ``bootstrap``: every run draws as many trades with replacement, so the final equity varies too.

Runs are computed in blocks of whole equity curves with numpy (a block holds at most
``BLOCK_CELLS`` trade PnLs), seeded with ``numpy.random.default_rng(seed)``: the same seed gives
the same distributions. Ruin is the equity falling to or below ``ruin_fraction`` of the initial
equity at any point of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import msgspec
import numpy as np
import polars as pl

Method = Literal["shuffle", "bootstrap"]
METHODS: tuple[Method, ...] = ("shuffle", "bootstrap")
BLOCK_CELLS = 4_000_000
PERCENTILES = (5, 50, 95)


class Interval(msgspec.Struct, frozen=True, kw_only=True):
    """Percentiles of one distribution (5 %, median, 95 %) and its mean."""

    p5: float
    p50: float
    p95: float
    mean: float


class MonteCarloSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What ``stom montecarlo --json`` prints."""

    method: str
    runs: int
    seed: int
    trades: int
    initial_equity: float
    ruin_fraction: float
    final_equity: Interval
    max_drawdown: Interval
    """Fraction of the running peak (0.05 = 5 %)."""
    max_drawdown_amount: Interval
    """In the quote currency."""
    probability_of_ruin: float


@dataclass
class MonteCarloResult:
    """The summary, and every run's figures (for histograms)."""

    summary: MonteCarloSummary
    final_equity: np.ndarray
    max_drawdown: np.ndarray
    max_drawdown_amount: np.ndarray


def simulate(
    trade_pnls: np.ndarray | list[float],
    initial_equity: float,
    *,
    runs: int = 10_000,
    method: str = "shuffle",
    seed: int = 0,
    ruin_fraction: float = 0.5,
) -> MonteCarloResult:
    """Run the simulation; bad arguments raise ValueError naming the argument and value."""
    pnls = np.asarray(trade_pnls, dtype=np.float64)
    if method not in METHODS:
        raise ValueError(f"method {method!r}: use {' or '.join(METHODS)}")
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if not initial_equity > 0:
        raise ValueError(f"initial equity must be positive, got {initial_equity}")
    if not 0 <= ruin_fraction < 1:
        raise ValueError(f"ruin fraction must be at least 0 and below 1, got {ruin_fraction}")
    if not len(pnls):
        raise ValueError("the result has no closed trades to resample")
    rng = np.random.default_rng(seed)
    count = len(pnls)
    finals = np.empty(runs)
    drawdowns = np.empty(runs)
    amounts = np.empty(runs)
    lows = np.empty(runs)
    block = max(1, BLOCK_CELLS // count)
    for first in range(0, runs, block):
        size = min(block, runs - first)
        if method == "shuffle":
            sample = rng.permuted(np.broadcast_to(pnls, (size, count)), axis=1)
        else:
            sample = pnls[rng.integers(0, count, size=(size, count))]
        equity = initial_equity + np.cumsum(sample, axis=1)
        peaks = np.maximum(np.maximum.accumulate(equity, axis=1), initial_equity)
        drop = peaks - equity
        stop = slice(first, first + size)
        amounts[stop] = drop.max(axis=1)
        drawdowns[stop] = (drop / peaks).max(axis=1) if initial_equity > 0 else 0.0
        finals[stop] = equity[:, -1]
        lows[stop] = np.minimum(equity.min(axis=1), initial_equity)
    summary = MonteCarloSummary(
        method=method,
        runs=runs,
        seed=seed,
        trades=count,
        initial_equity=float(initial_equity),
        ruin_fraction=ruin_fraction,
        final_equity=_interval(finals),
        max_drawdown=_interval(drawdowns),
        max_drawdown_amount=_interval(amounts),
        probability_of_ruin=float(np.mean(lows <= initial_equity * ruin_fraction)),
    )
    return MonteCarloResult(summary, finals, drawdowns, amounts)


def trade_pnls(trades: pl.DataFrame) -> np.ndarray:
    """Net PnL of every round trip of a stored result's ``trades`` table, in closing order."""
    if not trades.height:
        return np.zeros(0)
    return np.array([float(Decimal(text)) for text in trades["pnl"].to_list()])


def _interval(values: np.ndarray) -> Interval:
    p5, p50, p95 = (float(v) for v in np.percentile(values, PERCENTILES))
    return Interval(p5=p5, p50=p50, p95=p95, mean=float(values.mean()))
