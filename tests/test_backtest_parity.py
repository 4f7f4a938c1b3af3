"""Parity: paper trading on the simulator's feed (the node's loop: market state, paper exchange,
strategy runner, OMS), recorded with TickWriter, then the backtester on the recording: the same
orders and fills, to the unit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.backtest.trades import FillRecord
from engine.config.settings import JournalSettings, PaperSettings, Settings
from engine.domain.clock import TestClock
from engine.domain.instrument import Instrument
from engine.domain.market_data import MarketBatch
from engine.domain.orders import AnyOrderEvent, Order, OrderFilled
from engine.market_state import MarketState
from engine.oms.startup import open_trading_core
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.storage.tick_store import TickWriter, day_start_ns
from engine.strategy.loader import load_strategy_class
from engine.strategy.runner import StrategyRunner

STRATEGIES = Path(__file__).parent / "strategies"
START = day_start_ns(date(2026, 2, 3)) + 3_600_000_000_000
STEP_NS = 5_000_000
SECONDS = 90


def paper_run(
    root: Path,
    tmp: Path,
    strategy_file: Path,
    params: dict[str, int | float],
    latency_ms: float,
    instruments: list[Instrument] | None = None,
) -> tuple[list[tuple[object, ...]], int]:
    """The live-style path, recording what it sees; returns its fills and order count."""
    settings = Settings(
        journal=JournalSettings(file=str(tmp / "paper-journal.sqlite")),
        paper=PaperSettings(order_latency_ms=latency_ms),
    )
    instruments = instruments or [sim_instrument("KRW-BTC"), sim_instrument("KRW-ETH")]
    market = MarketState()
    indexes = [market.add(instrument) for instrument in instruments]
    simulator = MarketSimulator(instruments, indexes, seed=11, rate=300, start_ns=START)
    writers = [
        TickWriter(root, instrument, index, session=START, rows_per_part=4096)
        for instrument, index in zip(instruments, indexes, strict=True)
    ]
    clock = TestClock(START)
    core = open_trading_core(settings, market, clock)
    fills: list[tuple[object, ...]] = []

    def on_event(event: AnyOrderEvent, order: Order) -> None:
        if isinstance(event, OrderFilled):
            fills.append(
                (event.ts, order.client_order_id, order.side.value, event.price_raw,
                 event.quantity_raw, event.fee_raw, event.liquidity)
            )  # fmt: skip

    core.oms.listeners.append(on_event)
    runner = StrategyRunner(core.oms, clock)
    runner.add(load_strategy_class(strategy_file), params, [str(i.id) for i in instruments])

    def step(until_ns: int, out: MarketBatch) -> None:
        simulator.step(until_ns, out)
        for writer in writers:  # the recorder: every batch at the time the engine took it
            writer.append_batch(out, until_ns)

    batch = MarketBatch()
    simulator.snapshot(batch)
    for writer in writers:
        writer.append_batch(batch, START)
    runner.process_batch(batch, START)
    batch.clear()
    now = START
    while now < START + SECONDS * 1_000_000_000:
        now += STEP_NS
        clock.set(now)
        runner.step_source(step, batch, now)
    for writer in writers:
        writer.close()
    orders = len(core.oms.orders)
    core.journal.close()
    return fills, orders


def as_tuple(fill: FillRecord) -> tuple[object, ...]:
    return (fill.ts, fill.client_order_id, fill.side, fill.price_raw, fill.quantity_raw,
            fill.fee_raw, fill.liquidity)  # fmt: skip


@pytest.mark.parametrize(
    ("file", "params", "latency_ms"),
    [
        ("quoter.py", {"size": 0.002}, 20.0),
        ("two_ma.py", {"fast": 5, "slow": 20, "take_profit_bp": 3, "stop_loss_bp": 3}, 7.0),
    ],
)
def test_paper_and_backtest_fill_alike(
    tmp_path: Path, file: str, params: dict[str, int | float], latency_ms: float
) -> None:
    root = tmp_path / "ticks"
    paper_fills, paper_orders = paper_run(root, tmp_path, STRATEGIES / file, params, latency_ms)
    assert len(paper_fills) >= 10, "the strategy must trade for the comparison to mean anything"
    request = BacktestRequest(
        strategy_file=str(STRATEGIES / file),
        data_dir=str(root),
        results_dir=str(tmp_path / "backtests"),
        params=params,
        instruments=["KRW-BTC.SIM", "KRW-ETH.SIM"],
    )
    result = run_backtest(request, Settings(paper=PaperSettings(order_latency_ms=latency_ms)))
    assert [as_tuple(fill) for fill in result.fills] == paper_fills
    assert result.summary.orders == paper_orders
