"""The two-MA fast sweep path gives every parameter set the fills of a full single backtest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import pytest

from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.backtest.sample_data import write_sample
from engine.backtest.trades import FillRecord
from engine.config.settings import Settings
from engine.optimize.fast_two_ma import FastPathUnsupported, sweep_two_ma
from engine.strategy.loader import load_strategy_class

STRATEGY = Path(__file__).parent / "strategies" / "two_ma.py"
LOSS_LIMIT = {"KRW": "1000000000000"}
SETS: list[dict[str, int | float]] = [
    {"fast": 2, "slow": 10, "take_profit_bp": 3, "stop_loss_bp": 3},
    {"fast": 5, "slow": 30, "take_profit_bp": 4, "stop_loss_bp": 4},
    {"fast": 10, "slow": 10, "take_profit_bp": 6, "stop_loss_bp": 2},
    {"fast": 8, "slow": 50, "take_profit_bp": 2, "stop_loss_bp": 8},
    {"fast": 20, "slow": 100, "take_profit_bp": 4, "stop_loss_bp": 4},
    {"fast": 30, "slow": 60, "take_profit_bp": 10, "stop_loss_bp": 10},
    {"fast": 3, "slow": 40, "take_profit_bp": 1, "stop_loss_bp": 1},
    {"fast": 12, "slow": 24, "take_profit_bp": 5, "stop_loss_bp": 3, "notional": 30_000_000.0},
    {"fast": 50, "slow": 200, "take_profit_bp": 20, "stop_loss_bp": 20},
    {"fast": 4, "slow": 20, "take_profit_bp": 500, "stop_loss_bp": 500},
]


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fast") / "ticks"
    write_sample(root, symbols=("KRW-BTC", "KRW-ETH"), days=2, first_day=date(2026, 1, 5),
                 session_minutes=0.4, rate=2_000.0, seed=11)  # fmt: skip
    return root


def loose_settings() -> Settings:
    settings = Settings()
    risk = msgspec.structs.replace(
        settings.risk, daily_loss_limit=LOSS_LIMIT, max_drawdown=LOSS_LIMIT
    )
    return msgspec.structs.replace(settings, risk=risk)


def key(fill: FillRecord) -> tuple[object, ...]:
    return (fill.ts, fill.instrument_id, fill.side, fill.price_raw, fill.quantity_raw,
            fill.fee_raw, fill.liquidity)  # fmt: skip


def full_fills(ticks: Path, tmp_path: Path, params: dict[str, int | float], settings: Settings):
    request = BacktestRequest(
        strategy_file=str(STRATEGY), data_dir=str(ticks), results_dir=str(tmp_path), params=params
    )
    result = run_backtest(request, settings)
    return [key(fill) for fill in result.fills], result.summary.denied


def test_every_set_fills_exactly_as_a_full_backtest(ticks: Path, tmp_path: Path) -> None:
    settings = loose_settings()
    declared = load_strategy_class(str(STRATEGY)).params
    results, events = sweep_two_ma(ticks, SETS, settings, declared=declared)
    assert events > 40_000
    traded = 0
    for params, fast in zip(SETS, results, strict=True):
        expected, denied = full_fills(ticks, tmp_path, params, settings)
        assert [key(fill) for fill in fast.fills] == expected, params
        assert fast.denied == denied, params
        traded += bool(expected)
    assert traded >= len(SETS) - 1  # the comparison is not vacuous


def test_order_latency_and_rate_limit_are_reproduced(ticks: Path, tmp_path: Path) -> None:
    settings = loose_settings()
    settings = msgspec.structs.replace(
        settings,
        paper=msgspec.structs.replace(settings.paper, order_latency_ms=0.0),
        risk=msgspec.structs.replace(settings.risk, max_orders_per_second=3),
    )
    params = SETS[0]
    (fast,), _ = sweep_two_ma(ticks, [params], settings)
    expected, denied = full_fills(ticks, tmp_path, params, settings)
    assert denied > 0  # the rate limit bit
    assert fast.denied == denied
    assert [key(fill) for fill in fast.fills] == expected


def test_refuses_what_it_cannot_reproduce(ticks: Path) -> None:
    settings = Settings()
    exits = msgspec.structs.replace(
        settings, risk=msgspec.structs.replace(settings.risk, stop_loss_pct="1")
    )
    with pytest.raises(FastPathUnsupported, match="protective exits"):
        sweep_two_ma(ticks, [SETS[1]], exits)
    with pytest.raises(FastPathUnsupported, match="fast <= slow"):
        sweep_two_ma(ticks, [{"fast": 20, "slow": 10}], settings)
    with pytest.raises(FastPathUnsupported, match="no parameter"):
        sweep_two_ma(ticks, [{"fast": 2, "slow": 10, "size": 3}], settings)
    declared = load_strategy_class(str(STRATEGY)).params
    with pytest.raises(ValueError, match="fast: 1 is below its low bound 2"):
        sweep_two_ma(ticks, [{"fast": 1, "slow": 10}], settings, declared=declared)
    tight = msgspec.structs.replace(
        settings, risk=msgspec.structs.replace(settings.risk, max_drawdown={"KRW": "1000"})
    )
    with pytest.raises(FastPathUnsupported, match="kill switch"):
        sweep_two_ma(ticks, [SETS[0]], tight)
