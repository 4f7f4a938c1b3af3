"""The backtest's hot loop (engine.backtest.hot_loop) changes nothing but speed.

Every backtest here runs on the same data every way: every batch through
``TickPipeline.process_batch`` (``hot_loop=False``), and with the hot loop taking the batches it
can, once with the pure-Python one-instrument lane and once with the compiled one (where it was
built: on any machine with a C compiler, which ``test_the_compiled_lane_is_built`` holds to).
Summary, orders, fills, round trips, every equity point, the books and the risk marks at the end
must be equal, and the hot loop must really have taken its share of the batches.
"""

from __future__ import annotations

import logging
import shutil
import sysconfig
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

import engine.backtest.run as backtest_run
from bench.real_shaped import write_real_shaped
from engine.backtest import hot_loop
from engine.backtest import replay as replay_module
from engine.backtest.replay import plan_replay, replay_chunks
from engine.backtest.request import BacktestRequest
from engine.backtest.run import BacktestResult, run_backtest
from engine.backtest.sample_data import write_sample
from engine.config.settings import PaperSettings, RiskSettings, Settings
from engine.domain.market_data import TRADE
from engine.market_state import MarketState
from engine.oms.oms import Oms
from engine.storage.tick_store import TickStore
from tests.support.choppy_book import write_choppy_book

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ROOT / "tests" / "strategies"
TIMING = ("wall_s", "ticks_per_s", "created_ns", "id")
"""Summary fields that measure or name the run, not its result (the id holds the time)."""
COMPILED = hot_loop.COMPILED_LANE
LANES: dict[str, hot_loop.Lane | None] = {"pure-Python lane": None}
if COMPILED is not None:
    LANES["compiled lane"] = COMPILED


@pytest.fixture(scope="module")
def real_shaped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One instrument, one trade per ts_init, quote changes between trades (bench's shape)."""
    root = tmp_path_factory.mktemp("real") / "ticks"
    write_real_shaped(root, trades_per_day=40_000)
    return root


@pytest.fixture(scope="module")
def two_instruments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two instruments whose events share 5 ms batches (batches of several events, interleaved)."""
    root = tmp_path_factory.mktemp("sample")
    write_sample(root, symbols=("KRW-BTC", "KRW-ETH"), days=2, first_day=date(2026, 1, 5),
                 session_minutes=1.0, rate=2_000.0, seed=11)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def one_instrument_batched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One instrument in 5 ms batches of several events, several trades among them (the
    one-instrument lane's batches of several trades)."""
    root = tmp_path_factory.mktemp("one")
    write_sample(root, symbols=("KRW-BTC",), days=1, first_day=date(2026, 1, 5),
                 session_minutes=2.0, rate=2_000.0, seed=5)  # fmt: skip
    return root


class Recorder:
    """Stands in for the hot loop's ``run_quiet`` and counts the batches it took."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, pipeline: Any, runner: Any, chunk: Any, j: int, stop_ns: int) -> int:
        done = hot_loop.run_quiet(pipeline, runner, chunk, j, stop_ns)
        self.batches += done - j
        return done


def books(market: MarketState) -> list[tuple[Any, ...]]:
    """Everything the market state holds of each instrument (compared at the end of a run)."""
    return [
        (state.bids, state.asks, state.best_bid, state.best_ask, state.book_seq,
         state.trade_count, state.volume, state.turnover, state.last_price, state.ts_event,
         state.ts_recv, state.ring_price, state.ring_size, state.ring_side, state.ring_ts)
        for state in market
    ] + [(market.events_total, market.last_event_ns)]  # fmt: skip


def run_both_ways(
    monkeypatch: pytest.MonkeyPatch,
    data: Path,
    results: Path,
    strategy: str,
    params: dict[str, Any],
    settings: Settings | None = None,
) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """The backtest through the general path, then with the hot loop in each of its lanes
    (:data:`LANES`). Returns the general path's result and the hot loop's as plain data (with
    the books at the end), the batches the hot loop took and the batch count. The lanes' results
    and the batches they took must be equal to each other (checked here)."""
    markets: list[MarketState] = []

    def market_state(**options: Any) -> MarketState:
        markets.append(MarketState(**options))
        return markets[-1]

    monkeypatch.setattr(backtest_run, "MarketState", market_state)
    cores: list[Any] = []

    def open_trading_core(*args: Any) -> Any:
        cores.append(real_open(*args))
        return cores[-1]

    real_open = backtest_run.open_trading_core
    monkeypatch.setattr(backtest_run, "open_trading_core", open_trading_core)
    outcomes = []
    taken = []
    for hot, lane in [(False, None), *((True, lane) for lane in LANES.values())]:
        monkeypatch.setattr(hot_loop, "COMPILED_LANE", lane)
        recorder = Recorder()
        monkeypatch.setattr(backtest_run, "run_quiet", recorder)
        request = BacktestRequest(strategy_file=str(STRATEGIES / strategy), data_dir=str(data),
                                  results_dir=str(results / f"{hot}{len(outcomes)}"),
                                  params=params)  # fmt: skip
        result = run_backtest(request, settings or Settings(), hot_loop=hot)
        oms = cores[-1].oms
        # The risk checks ran at the same times and left the same marks (day, equity, peak).
        risk = (oms.risk_state.to_dict(), oms.next_check_ns)
        outcomes.append({**plain(result), "books": books(markets[-1]), "risk": risk})
        taken.append(recorder.batches)
    general, hot_runs = outcomes[0], outcomes[1:]
    for name, outcome in zip(LANES, hot_runs, strict=True):
        assert outcome == hot_runs[0], f"the {name} differs from the pure-Python lane"
    assert len(set(taken[1:])) == 1, dict(zip(LANES, taken[1:], strict=True))
    return general, hot_runs[-1], taken[-1], result.summary.batches


def plain(result: BacktestResult) -> dict[str, Any]:
    summary = msgspec.to_builtins(result.summary)
    for field in TIMING:
        summary.pop(field)
    return {
        "summary": summary,
        "orders": result.orders,
        "fills": result.fills,
        "trades": result.trades,
        "equity": result.equity,
    }


@pytest.mark.parametrize(
    ("strategy", "params", "min_fills", "quiet_share"),
    [
        # Market orders with 20 ms latency: the loop hands over while each is on its way.
        ("two_ma.py", {"fast": 10, "slow": 40, "take_profit_bp": 2, "stop_loss_bp": 2}, 40, 0.5),
        # Limit orders resting most of the time, cancels, queues: the lane goes on while they
        # rest (the fill model handed only what it acts on); each order's way out is general.
        ("trade_limits.py", {"patience": 30}, 10, 0.8),
        # A strategy that raises at its third trade: disabled, the rest of the run is quiet.
        ("raiser.py", {}, 0, 0.99),
        # Orders chosen by everything the strategy reads of the market state at each trade: a
        # field the loop left stale when a handler runs changes them.
        ("market_reader.py", {"every": 300}, 100, 0.5),
    ],
)
def test_real_shaped_backtests_are_equal_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_shaped: Path,
    strategy: str, params: dict[str, Any], min_fills: int, quiet_share: float,
) -> None:  # fmt: skip
    general, hot, quiet, batches = run_both_ways(
        monkeypatch, real_shaped, tmp_path, strategy, params
    )
    assert general["summary"]["fills"] >= min_fills
    assert hot == general
    # The hot loop took its share: everything but an order's time on the venue.
    assert quiet > batches * quiet_share, (quiet, batches)


def test_two_instruments_in_shared_batches_are_equal_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, two_instruments: Path
) -> None:
    params = {"fast": 6, "slow": 30, "take_profit_bp": 3, "stop_loss_bp": 3}
    general, hot, quiet, batches = run_both_ways(
        monkeypatch, two_instruments, tmp_path, "two_ma.py", params
    )
    assert len(general["summary"]["instruments"]) == 2
    assert general["summary"]["fills"] >= 20
    assert hot == general
    assert quiet > batches // 2, (quiet, batches)


@pytest.fixture(scope="module")
def choppy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A book whose spread opens and closes, levels emptied and refilled, resyncs
    (tests/support/choppy_book.py)."""
    root = tmp_path_factory.mktemp("choppy") / "ticks"
    write_choppy_book(root, steps=30_000, seed=3)
    return root


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_orders_of_every_kind_resting_on_a_choppy_book_are_equal_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, choppy: Path, seed: int
) -> None:
    """While orders only rest, the one-instrument lane runs and hands the paper exchange only
    the batches its fill model would act on: a level moving onto a resting order's price (no
    trade), trades through it, levels where paper fills consumed liquidity, a book cleared.
    Random market, limit, IOC and FOK orders and cancels (tests/strategies/order_fuzz.py)
    fill the same, in the same order, as with every batch through process_batch."""
    general, hot, quiet, batches = run_both_ways(
        monkeypatch, choppy, tmp_path, "order_fuzz.py", {"seed": seed}
    )
    assert hot == general
    fills = general["fills"]
    assert sum(fill.liquidity == "maker" for fill in fills) >= 100
    assert sum(fill.liquidity == "taker" for fill in fills) >= 100
    # Orders rested most of the day, and the lane still took most batches.
    assert quiet > batches // 2, (quiet, batches)


def test_the_one_instrument_lane_is_taken_where_a_chunk_holds_one_instrument(
    real_shaped: Path, two_instruments: Path
) -> None:
    """The real-shaped day (one instrument) goes through the one-instrument lane of the loop;
    chunks that mix two instruments do not (the general form of the loop takes them)."""

    def sole(root: Path) -> set[int]:
        store = TickStore(root)
        ids = store.instrument_ids()
        plan = plan_replay(store, ids, list(range(len(ids))), None, None)
        chunks = list(replay_chunks(store, plan))
        for chunk in chunks:
            if chunk.sole_instrument >= 0:
                assert chunk.instrument == [chunk.sole_instrument] * len(chunk.kind)
        return {chunk.sole_instrument for chunk in chunks}

    assert sole(real_shaped) == {0}
    assert -1 in sole(two_instruments)


def test_one_instrument_in_batches_of_several_trades_is_equal_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, one_instrument_batched: Path
) -> None:
    """The one-instrument lane with batches that hold several trades (their handlers after the
    batch's events, in order), a strategy reading the market state at each."""
    params = {"every": 40}
    general, hot, quiet, batches = run_both_ways(
        monkeypatch, one_instrument_batched, tmp_path, "market_reader.py", params
    )
    assert general["summary"]["fills"] >= 20
    assert hot == general
    assert quiet > batches // 2, (quiet, batches)
    store = TickStore(one_instrument_batched)
    plan = plan_replay(store, store.instrument_ids(), [0], None, None)
    several = sum(
        sum(chunk.kind[row] == TRADE for row in range(a, b)) > 1
        for chunk in replay_chunks(store, plan)
        for a, b in zip(chunk.starts, chunk.ends, strict=True)
    )
    assert several > 100  # batches of several trades, each through the lane's second path


def test_the_compiled_lane_is_built_where_a_compiler_is() -> None:
    """``pip install`` builds the compiled lane wherever a C compiler works (this test's
    machine, and CI's): were the build silently skipped there, the comparisons above would run
    one lane only."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the pure-Python lane is the one installed")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        pytest.skip(f"no Python headers ({headers}): the pure-Python lane is the one installed")
    assert COMPILED is not None, "pip install found a compiler but the compiled lane is not used"


def test_a_build_older_than_its_source_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An edited ``compiled_lane.pyx`` not yet rebuilt: the pure-Python lane runs, and says so;
    ``STOM_PURE_PYTHON`` turns the compiled lane off."""
    module = pytest.importorskip("engine.backtest.compiled_lane")
    assert hot_loop.compiled_lane() is not None
    monkeypatch.setattr(module, "SOURCE_SHA256", "0" * 64)
    with caplog.at_level(logging.WARNING, logger="stom.backtest"):
        assert hot_loop.compiled_lane() is None
    assert "compiled_lane.pyx changed since it was compiled" in caplog.text
    monkeypatch.undo()
    monkeypatch.setenv("STOM_PURE_PYTHON", "1")
    assert hot_loop.compiled_lane() is None


def test_the_compiled_lane_never_turns_a_quiet_chunk_into_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_shaped: Path
) -> None:
    """What the compiled lane saves: a chunk it takes whole (a strategy that sends no order) is
    read from its numpy columns only; the pure-Python lane converts every chunk."""
    if COMPILED is None:
        pytest.skip("the compiled lane was not built (test_the_compiled_lane_is_built says why)")
    converted: list[int] = []
    real_getattr = replay_module.ReplayChunk.__getattr__

    def counting(chunk: replay_module.ReplayChunk, name: str) -> list[int]:
        converted.append(chunk.rows_before)
        return real_getattr(chunk, name)

    monkeypatch.setattr(replay_module.ReplayChunk, "__getattr__", counting)
    noop = ROOT / "bench" / "strategies" / "noop.py"
    request = BacktestRequest(strategy_file=str(noop), data_dir=str(real_shaped),
                              results_dir=str(tmp_path / "c"))  # fmt: skip
    summary = run_backtest(request, Settings()).summary
    assert summary.ticks > 100_000
    assert converted == []
    monkeypatch.setattr(hot_loop, "COMPILED_LANE", None)
    request = msgspec.structs.replace(request, results_dir=str(tmp_path / "py"))
    run_backtest(request, Settings())
    assert converted


@pytest.mark.parametrize(
    ("limit", "trips"),
    [("10000000", False), ("300000", True), ("150000", True), ("40000", True)],
)
def test_positions_both_ways_near_the_risk_limits_are_equal_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_shaped: Path, limit: str, trips: bool
) -> None:
    """Checks put off while a position is held (Oms.defer_check: the mark inside the band
    where a check changes only the latest equity), long and short, with the loss and drawdown
    limits far, near and passed: the same risk marks, kill and fills as every check run."""
    deferred: list[int] = []
    real_defer = Oms.defer_check

    def defer_check(oms: Oms, now_ns: int, index: int, mark: int) -> None:
        deferred.append(mark)
        real_defer(oms, now_ns, index, mark)

    monkeypatch.setattr(Oms, "defer_check", defer_check)
    settings = Settings(
        paper=PaperSettings(allow_short=True),
        risk=RiskSettings(max_drawdown={"KRW": limit}, daily_loss_limit={"KRW": limit}),
    )
    general, hot, _, _ = run_both_ways(
        monkeypatch, real_shaped, tmp_path, "swing.py", {"hold": 300}, settings
    )
    assert hot == general
    assert general["summary"]["fills"] >= 4
    risk, _ = general["risk"]
    assert (risk["kill_reason"] is not None) is trips, risk
    assert len(deferred) > 100  # (the lanes put checks off; the general path never does)
