"""The vector path against the event path: identical fills on both templates over a seeded grid
of parameters (real-shaped data), the sampled re-check failing a run on a deliberately broken
vector strategy, refusals falling back to the event path with the reason, and ``stom optimize``
printing and storing each trial's path and throughput."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from bench.real_shaped import write_real_shaped
from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.backtest.trades import FillRecord
from engine.config.settings import Settings
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE
from engine.optimize.driver import RecheckFailed, run_study, space_of
from engine.optimize.executors import LocalExecutor
from engine.optimize.objective import trial_metrics
from engine.optimize.study import Study, StudySpec, read_figures, read_trials
from engine.optimize.trial import EVENT, VECTOR, TrialEvaluator, TrialTask
from engine.optimize.vector_path import VectorPath, first_difference
from engine.optimize.vector_signals import VectorRefusal
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import SCHEMA, TickWriter, day_start_ns
from engine.strategy.api import Strategy
from engine.strategy.loader import load_strategy_class

ROOT = Path(__file__).resolve().parents[1]
TWO_MA = ROOT / "strategies" / "two_ma.py"
MOMENTUM = ROOT / "strategies" / "tick_momentum.py"
TRADES = 20_000


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real_shaped") / "ticks"
    write_real_shaped(root, trades_per_day=TRADES, seed=11)
    return root


def key(fill: FillRecord) -> tuple[object, ...]:
    return (fill.ts, fill.side, fill.price_raw, fill.quantity_raw, fill.fee_raw)


def event_run(
    ticks: Path,
    cls: type[Strategy],
    file: Path,
    params: dict[str, Any],
    settings: Settings | None = None,
) -> Any:
    request = BacktestRequest(
        strategy_file=str(file), data_dir=str(ticks), results_dir=str(ticks), params=params
    )
    return run_backtest(request, settings or Settings(), strategy_cls=cls)


def two_ma_sets(count: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    sets = []
    for _ in range(count):
        slow = rng.choice([10, 20, 40, 80])
        sets.append(
            {
                "fast": rng.choice([2, 4, 6, 8, 10]),
                "slow": slow,
                "take_profit_bps": rng.choice([1, 2, 3, 5]),
                "stop_loss_bps": rng.choice([1, 2, 4]),
                "order_value": rng.choice([1_000_000.0, 5_000_000.0, 30_000_000.0]),
            }
        )
    return sets


def momentum_sets(count: int) -> list[dict[str, Any]]:
    rng = random.Random(6)
    return [
        {
            "window": rng.choice([10, 20, 50]),
            "threshold": rng.choice([0.55, 0.6, 0.7]),
            "order_value": rng.choice([100_000.0, 2_000_000.0, 10_000_000.0]),
            "take_profit_bps": rng.choice([2.0, 4.0]),
            "stop_loss_bps": rng.choice([2.0, 6.0]),
            "max_hold_s": rng.choice([0.0, 10.0, 60.0]),
            "cooldown_s": rng.choice([0.0, 1.0, 5.0]),
        }
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    ("file", "sets"),
    [(TWO_MA, two_ma_sets(8)), (MOMENTUM, momentum_sets(8))],
    ids=["two_ma", "momentum"],
)
def test_vector_and_event_paths_give_identical_fills(
    ticks: Path, file: Path, sets: list[dict[str, Any]]
) -> None:
    cls = load_strategy_class(str(file))
    path = VectorPath(cls, Settings(), str(ticks), [], None, None)
    assert path.refusal() is None
    compared = fills = 0
    for params in sets:
        event = event_run(ticks, cls, file, params)
        try:
            vector = path.run(params)
        except VectorRefusal as exc:
            # Only what the kernel does not model may refuse: a walk past the best level.
            assert "past the best level" in str(exc), (params, str(exc))
            continue
        assert [key(f) for f in vector.fills] == [key(f) for f in event.fills], (
            params,
            first_difference(vector.fills, event.fills),
        )
        assert vector.metrics == trial_metrics(event.summary), params
        compared += 1
        fills += len(vector.fills)
    assert compared >= len(sets) - 2, "the vector path refused too many sets"
    assert fills >= 50, f"too few fills ({fills}) to prove anything"


def test_zero_latency_is_identical_and_a_binding_rate_limit_is_refused(ticks: Path) -> None:
    cls = load_strategy_class(str(TWO_MA))
    settings = Settings()
    instant = msgspec.structs.replace(
        settings, paper=msgspec.structs.replace(settings.paper, order_latency_ms=0.0)
    )
    path = VectorPath(cls, instant, str(ticks), [], None, None)
    for params in two_ma_sets(3):
        event = event_run(ticks, cls, TWO_MA, params, instant)
        vector = path.run(params)
        assert [key(f) for f in vector.fills] == [key(f) for f in event.fills], params
        assert vector.metrics == trial_metrics(event.summary)
    # One order a second: quick round trips get denied on the event path; the vector path
    # does not imitate a denial, it refuses.
    slow = msgspec.structs.replace(
        settings, risk=msgspec.structs.replace(settings.risk, max_orders_per_second=1)
    )
    params = {"fast": 2, "slow": 10, "take_profit_bps": 1, "stop_loss_bps": 1}
    assert event_run(ticks, cls, TWO_MA, params, slow).summary.denied > 0
    with pytest.raises(VectorRefusal, match="rule rate_limit"):
        VectorPath(cls, slow, str(ticks), [], None, None).run(params)


SATOSHI = 100_000_000


def write_static_book(root: Path, *, dips: bool) -> None:
    """A two-level book that never moves (best bid 99,900,000 and ask 100,000,000, one BTC
    each, five BTC behind) under a seeded random walk of trades every 100 ms. With ``dips``,
    every third trade comes after the best levels shrink to 0.7 BTC and return to one BTC (the
    feed catching up with what paper fills took)."""
    rng = random.Random(3)
    start = day_start_ns(date(2026, 1, 5)) + 1_000_000_000
    rows: list[tuple[int, int, int, int, int]] = [
        (start, BOOK_LEVEL, BID, 99_900_000, SATOSHI),
        (start, BOOK_LEVEL, BID, 99_800_000, 5 * SATOSHI),
        (start, BOOK_LEVEL, ASK, 100_000_000, SATOSHI),
        (start, BOOK_LEVEL, ASK, 100_100_000, 5 * SATOSHI),
    ]
    price = 100_000_000
    for number in range(1, 3_001):
        ts = start + number * 100_000_000
        if dips and number % 3 == 0:
            for offset, size in ((-30_000_000, 7 * SATOSHI // 10), (-20_000_000, SATOSHI)):
                rows.append((ts + offset, BOOK_LEVEL, ASK, 100_000_000, size))
                rows.append((ts + offset + 1, BOOK_LEVEL, BID, 99_900_000, size))
        price = min(100_040_000, max(99_960_000, price + rng.choice((-5_000, 5_000))))
        rows.append((ts, TRADE, rng.choice((BID, ASK)), price, 1_000_000))
    columns = list(zip(*rows, strict=True))
    frame = pl.DataFrame(
        {
            "ts_event": pl.Series(columns[0], dtype=SCHEMA["ts_event"]),
            "ts_init": pl.Series([ts + 300_000 for ts in columns[0]], dtype=SCHEMA["ts_init"]),
            "kind": pl.Series(columns[1], dtype=SCHEMA["kind"]),
            "side": pl.Series(columns[2], dtype=SCHEMA["side"]),
            "price": pl.Series(columns[3], dtype=SCHEMA["price"]),
            "size": pl.Series(columns[4], dtype=SCHEMA["size"]),
        }
    )
    writer = TickWriter(root, sim_instrument("KRW-BTC"), 0, session=start)
    writer.write_frame(frame)
    writer.close()


CONSUMING = {"fast": 2, "slow": 10, "take_profit_bps": 1, "stop_loss_bps": 1,
             "order_value": 30_000_000.0}  # fmt: skip
"""0.3 BTC per order: the fourth order on a one-BTC level finds only 0.1 BTC it may take."""


def test_consumed_liquidity_is_remembered_and_reconciled(tmp_path: Path) -> None:
    cls = load_strategy_class(str(TWO_MA))
    # Crossing the spread 0.3 BTC at a time loses more than the default daily loss limit.
    settings = Settings()
    loose = {"KRW": "1000000000"}
    settings = msgspec.structs.replace(
        settings,
        risk=msgspec.structs.replace(settings.risk, daily_loss_limit=loose, max_drawdown=loose),
    )
    # The book never moves: paper fills use the best levels up, and the fourth buy walks.
    still = tmp_path / "still"
    write_static_book(still, dips=False)
    event = event_run(still, cls, TWO_MA, CONSUMING, settings)
    assert 100_100_000 in {fill.price_raw for fill in event.fills if fill.side == "buy"}
    with pytest.raises(VectorRefusal, match="past the best level"):
        VectorPath(cls, settings, str(still), [], None, None).run(CONSUMING)
    # The levels dip and recover between trades: each dip gives back what was consumed, so
    # every order fits the best level, and both paths agree fill by fill.
    dipping = tmp_path / "dipping"
    write_static_book(dipping, dips=True)
    event = event_run(dipping, cls, TWO_MA, CONSUMING, settings)
    vector = VectorPath(cls, settings, str(dipping), [], None, None).run(CONSUMING)
    assert len(event.fills) >= 40
    assert {fill.price_raw for fill in event.fills} == {99_900_000, 100_000_000}
    assert [key(f) for f in vector.fills] == [key(f) for f in event.fills]
    assert vector.metrics == trial_metrics(event.summary)


def broken_copy(tmp_path: Path) -> Path:
    """The two-MA template with its vector form deliberately one trade late on entries."""
    source = TWO_MA.read_text()
    broken = source.replace(
        "entries=rising(above, slow - 1),", "entries=np.roll(rising(above, slow - 1), 1),"
    )
    assert broken != source
    file = tmp_path / "broken_two_ma.py"
    file.write_text(broken)
    return file


def spec_for(file: Path, ticks: Path, **overrides: str) -> StudySpec:
    return StudySpec(
        strategy_file=str(file),
        data_dir=str(ticks),
        method="grid",
        objective="total_return",
        trials=10,
        overrides={
            "fast": "4:8:4",
            "slow": "20",
            "take_profit_bps": "2",
            "stop_loss_bps": "2",
            "order_value": "1000000",
            **overrides,
        },
    )


def test_recheck_fails_the_run_naming_the_differing_fill(ticks: Path, tmp_path: Path) -> None:
    file = broken_copy(tmp_path)
    spec = spec_for(file, ticks)
    study = Study.open(tmp_path / "studies", "broken", spec)
    executor = LocalExecutor(spec, Settings(), 1)
    try:
        with pytest.raises(RecheckFailed, match=r"differ at fill \d+: vector buy .* event buy"):
            run_study(study, space_of(spec, load_strategy_class(str(file))), executor)
    finally:
        executor.close()
        study.close("failed")
    (record,) = read_trials(tmp_path / "studies", "broken")
    assert record.failed and record.path == VECTOR and record.reason.startswith("re-check: fill")


def test_refusals_fall_back_to_the_event_path_and_say_why(ticks: Path, tmp_path: Path) -> None:
    spec = spec_for(TWO_MA, ticks)
    # A configuration the kernel does not model: the engine's protective exits.
    settings = Settings()
    exits = msgspec.structs.replace(settings.risk, stop_loss_pct="5")
    evaluator = TrialEvaluator(spec, msgspec.structs.replace(settings, risk=exits))
    params: dict[str, bool | int | float | str] = {"fast": 4, "slow": 20}
    outcome = evaluator.evaluate(TrialTask("a", params))
    assert outcome.path == EVENT and "protective exits" in outcome.path_reason
    assert outcome.metrics is not None and outcome.trades == TRADES
    # A trial the kernel cannot prove: market orders larger than the best level walk the book
    # (a copy of the template allowing 400 M KRW orders, limits raised to let them through).
    big = tmp_path / "big_two_ma.py"
    big.write_text(TWO_MA.read_text().replace("high=50_000_000.0", "high=500_000_000.0"))
    lots = {"KRW": "100000000000"}
    roomy = msgspec.structs.replace(
        settings,
        paper=msgspec.structs.replace(settings.paper, balances=lots),
        risk=msgspec.structs.replace(
            settings.risk, max_order_notional=lots, max_position_notional=lots,
            max_gross_exposure=lots, daily_loss_limit=lots, max_drawdown=lots,
        ),
    )  # fmt: skip
    walk = {"fast": 2, "slow": 10, "take_profit_bps": 1, "stop_loss_bps": 1,
            "order_value": 400_000_000.0}  # fmt: skip
    outcome = TrialEvaluator(spec_for(big, ticks), roomy).evaluate(TrialTask("b", dict(walk)))
    assert outcome.path == EVENT and "past the best level" in outcome.path_reason
    request = BacktestRequest(
        strategy_file=str(big), data_dir=str(ticks), results_dir=str(ticks), params=walk
    )
    event = run_backtest(request, roomy, strategy_cls=load_strategy_class(str(big)))
    assert outcome.metrics == trial_metrics(event.summary)
    # The event path took the best level and expired the rest (a one-level book).
    assert any(int(row["filled_raw"]) < int(row["quantity_raw"]) for row in event.orders)
    # A strategy with no vector form says so.
    plain = tmp_path / "plain.py"
    plain.write_text(TWO_MA.read_text().replace("def signals(", "def _not_signals("))
    outcome = TrialEvaluator(spec_for(plain, ticks), Settings()).evaluate(TrialTask("c", params))
    assert (
        outcome.path == EVENT and outcome.path_reason == "TwoMovingAverages declares no signals()"
    )


def stom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "engine", "--set", f"data.dir={tmp_path / 'data'}", *args]
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )


def test_stom_optimize_prints_and_stores_path_and_throughput(ticks: Path, tmp_path: Path) -> None:
    done = stom(tmp_path, "optimize", str(TWO_MA), "--data", str(ticks), "--method", "grid",
                "--objective", "total_return", "--trials", "10", "--jobs", "1",
                "--param", "fast=2:6:2", "--param", "slow=20", "--param", "take_profit_bps=2",
                "--param", "stop_loss_bps=2", "--param", "order_value=1000000",
                "--study", "v")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "vector path: TwoMovingAverages declares signals()" in done.stderr
    assert "trial 1 vector" in done.stderr and "trades/s" in done.stderr
    assert "paths: 3 vector, 0 event; re-checked against the event path: 2" in done.stdout
    assert "combo-trades/s" in done.stdout
    studies = tmp_path / "data" / "optimize"
    trials = read_trials(studies, "v")
    assert [t.path for t in trials] == [VECTOR] * 3
    assert all(t.trades == TRADES and t.trades_per_s > 0 for t in trials)
    assert sorted(t.recheck for t in trials) == ["", "identical", "identical"]
    (figures,) = read_figures(studies, "v").values()
    assert figures.vector_trials == 3 and figures.rechecked == 2
    assert figures.combo_trades_per_s > 0


def test_stom_optimize_fails_on_a_broken_vector_strategy(ticks: Path, tmp_path: Path) -> None:
    file = broken_copy(tmp_path)
    done = stom(tmp_path, "optimize", str(file), "--data", str(ticks), "--method", "random",
                "--objective", "total_return", "--trials", "3", "--jobs", "1",
                "--param", "fast=2:6:2", "--param", "slow=20", "--param", "take_profit_bps=2",
                "--param", "stop_loss_bps=2", "--param", "order_value=1000000")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the vector and event paths differ at fill" in done.stderr
