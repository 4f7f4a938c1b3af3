"""Unit checks of the backtest's metrics and round trips (exact money, edge cases)."""

from __future__ import annotations

import itertools
import math
from datetime import date
from pathlib import Path

import pytest

from engine.backtest.metrics import NS_PER_YEAR, curve_metrics, trade_stats
from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.backtest.sample_data import write_sample
from engine.backtest.trades import FillRecord, round_trips
from engine.config.settings import Settings

STRATEGIES = Path(__file__).parent / "strategies"


def fill(ts: int, side: str, price: int, quantity: int, fee: int) -> FillRecord:
    return FillRecord(
        ts=ts, client_order_id=f"o{ts}", strategy_id="s", instrument_id="X.SIM", side=side,
        price_raw=price, quantity_raw=quantity, fee_raw=fee, liquidity="taker",
        price_precision=0, size_precision=0,
    )  # fmt: skip


def test_drawdown_from_the_first_point_lasts_until_it_is_regained() -> None:
    metrics = curve_metrics([0, 10, 20, 30], [100.0, 90.0, 100.0, 110.0], 30)
    assert metrics.max_drawdown == pytest.approx(0.1)
    assert metrics.max_drawdown_duration_ns == 20


def test_drawdown_never_regained_lasts_until_the_end() -> None:
    metrics = curve_metrics([0, 10, 20, 30], [100.0, 110.0, 90.0, 100.0], 30)
    assert metrics.max_drawdown == pytest.approx(20 / 110)
    assert metrics.max_drawdown_duration_ns == 20


def test_sharpe_is_annualized_by_sample_intervals_per_year() -> None:
    equity = [100.0, 101.0, 100.0, 102.0]
    metrics = curve_metrics([0, 60, 120, 180], equity, 180)
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)]
    mean = sum(returns) / 3
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    assert metrics.sharpe == pytest.approx(mean / std * math.sqrt(NS_PER_YEAR / 60))


def test_partial_fills_and_fees_are_exact() -> None:
    trades, still_open = round_trips(
        [
            fill(1, "buy", 100, 2, 3),
            fill(2, "buy", 101, 1, 1),
            fill(3, "sell", 110, 1, 1),
            fill(4, "sell", 120, 2, 2),
        ]
    )
    assert still_open == {}
    (trade,) = trades
    assert trade.pnl_raw == (110 + 240) - (200 + 101) - 7
    assert trade.fees_raw == 7 and trade.quantity_raw == 3


def test_a_reversal_splits_its_fee_and_opens_the_next_trade() -> None:
    trades, still_open = round_trips(
        [fill(1, "buy", 100, 2, 0), fill(2, "sell", 110, 3, 7), fill(3, "buy", 100, 1, 0)]
    )
    long, short = trades
    assert long.direction == "long" and long.fees_raw == 7 * 2 // 3
    assert long.pnl_raw == 2 * 10 - 4
    assert short.direction == "short" and short.fees_raw == 7 - 4
    assert short.pnl_raw == 10 - 3
    assert still_open == {}


def test_trade_stats_with_no_trade_and_no_loss() -> None:
    empty = trade_stats([], 0, 100, {})
    assert empty.trades == 0 and empty.win_rate is None and empty.profit_factor is None
    trades, _ = round_trips([fill(1, "buy", 100, 1, 0), fill(2, "sell", 110, 1, 0)])
    stats = trade_stats(trades, 1, 100, {id(t): float(t.pnl) for t in trades})
    assert stats.win_rate == 1.0 and stats.profit_factor is None


def test_the_equity_curve_has_one_point_per_time(tmp_path: Path) -> None:
    write_sample(
        tmp_path / "ticks", symbols=["KRW-BTC"], days=1, first_day=date(2025, 11, 18),
        session_minutes=1, rate=50, seed=3,
    )  # fmt: skip
    request = BacktestRequest(
        strategy_file=str(STRATEGIES / "scripted.py"),
        data_dir=str(tmp_path / "ticks"),
        results_dir=str(tmp_path / "results"),
        params={"buy_on": 5, "sell_on": 40, "size": 0.001},
        equity_interval_s=0.001,  # the last batch is sampled too
    )
    result = run_backtest(request, Settings())
    times = [ts for ts, _, _ in result.equity]
    assert len(times) > 2
    assert times == sorted(set(times))
