"""walkforward.* and montecarlo.* through the real engine subprocess and mosquitto: a rolling
walk-forward finds the known best parameters in each window and publishes each window as it
ends; a run is cancelled and named so; a Monte Carlo run of a backtest the engine ran gives the
same figures as ``engine.optimize.montecarlo.simulate`` and a percentile fan; bad arguments are
refused naming the field."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.backtest.results import load_result
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.optimize.montecarlo import simulate, trade_pnls
from engine.optimize.walkforward import WFE_DEFINITION
from engine.protocol import payloads as p
from engine.protocol.research import MonteCarloProgress, WalkForwardProgress
from engine.protocol.results import MonteCarloStatusResult, WalkForwardStatusResult, result_of
from engine.protocol.strategies import BacktestProgress
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import TickWriter, day_start_ns
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.optimum_data import BASE, BEST, TICK, price_ticks

pytestmark = pytest.mark.integration

STRATEGIES = Path(__file__).parent / "strategies"
FIRST_DAY = date(2026, 2, 2)
DAYS = 3
TRADES_PER_DAY = 3_700
"""Over an hour of trades: shorter periods have no annualized return (engine/backtest/metrics)."""
SEARCH = {"enter_after": "200:400:100", "hold": "300:500:100"}
"""Nine parameter sets around the known best (enter_after=300, hold=400)."""

FLIPPER = '''
from engine.strategy.api import Param, Strategy


class Flipper(Strategy):
    """A round trip every ``every`` trades: wins while the price rises, loses while it falls."""

    every = Param(50, low=10, high=500, step=10)

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.seen += 1
        if self.seen % self.every == 0:
            self.ctx.buy(i, self.ctx.size_raw(i, 1_000_000.0 / price))
        elif self.seen % self.every == self.every // 2:
            self.ctx.close_position(i)
'''


def write_days(root: Path) -> None:
    """The optimizer's known-optimum day (tests/support/optimum_data.py) on three days, each
    falling on for longer after the peak (so the best parameters stay enter_after=300, hold=400)."""
    instrument = sim_instrument("KRW-BTC")
    size = 10 * 10**instrument.size_precision
    for offset in range(DAYS):
        start = day_start_ns(FIRST_DAY + timedelta(days=offset)) + 3_600 * 1_000_000_000
        writer = TickWriter(root, instrument, 0, session=start)
        for number in range(TRADES_PER_DAY):
            ts = start + number * 1_000_000_000
            price = BASE + TICK * price_ticks(number)
            writer.append(BOOK_CLEAR, BID, 0, 0, ts, ts)
            writer.append(BOOK_LEVEL, BID, price - TICK, size, ts, ts)
            writer.append(BOOK_LEVEL, ASK, price + TICK, size, ts, ts)
            writer.append(TRADE, BID, price, 1, ts, ts)
        writer.close()


class Session:
    """The engine, a command client and an observer of the bus, on one namespace."""

    def __init__(self, remote: RemoteEngine, observer: Observer, data_dir: Path) -> None:
        self.remote = remote
        self.observer = observer
        self.data_dir = data_dir

    async def command(self, type_: str, **args: Any) -> p.Reply:
        return await self.remote.request(type_, args, timeout=20)

    async def refused(self, type_: str, reason: str, **args: Any) -> None:
        reply = await self.command(type_, **args)
        assert reply.status == "rejected", (args, reply)
        assert reason in (reply.reason or ""), (args, reply.reason)

    def walkforward(self) -> list[WalkForwardProgress]:
        topic = self.observer.topics.walkforward_progress
        return self.observer.all(topic, WalkForwardProgress)

    async def wait(self, topic: str, kind: type[Any], states: set[str], timeout: float) -> Any:
        def ended() -> Any:
            latest = self.observer.latest(topic, kind)
            return latest if latest is not None and latest.state in states else None

        return await self.observer.wait_for(ended, timeout, f"{topic} in {states}")


@pytest.fixture
async def session(mosquitto: Broker, tmp_path: Path) -> Any:
    write_days(tmp_path / "ticks")
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(STRATEGIES / "timed_swing.py", strategies / "timed_swing.py")
    (strategies / "flipper.py").write_text(FLIPPER)
    namespace = unique_namespace()
    engine = EngineProcess(
        mosquitto.url, namespace, data_dir=tmp_path, extra=("--set", f"strategies.dir={strategies}")
    ).start()
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace))
    try:
        async with (
            Observer(mosquitto.host, mosquitto.port, namespace) as observer,
            RemoteEngine(settings, parse_broker_url(mosquitto.url), None) as remote,
        ):
            await observer.wait_status("running", timeout=30)
            yield Session(remote, observer, tmp_path)
    finally:
        engine.stop()
        print(engine.log()[-3000:])


async def test_walk_forward_windows_arrive_as_they_end(session: Session) -> None:
    reply = await session.command(
        "walkforward.run", strategy="timed_swing.py", train=1, test=1, method="grid",
        objective="total_return", trials=9, params=SEARCH, jobs=1,
    )  # fmt: skip
    assert reply.status == "accepted", reply.reason
    assert reply.result == {"run_id": "wf1", "name": "timed_swing-grid-rolling-1d-1d"}
    await session.refused("walkforward.run", "wf1 is still running", strategy="timed_swing.py")
    topic = session.observer.topics.walkforward_progress
    done = await session.wait(topic, WalkForwardProgress, {"done", "failed"}, timeout=240)
    assert done.state == "done", done.error
    states = [progress.state for progress in session.walkforward()]
    assert states[0] == "starting" and states[-1] == "done", states
    # Each window is published as it ends, but progress is a state topic: two windows that end
    # within one poll of the worker (0.2 s) go out as their latest state only. That the worker
    # reports each window as it ends is shown below, in process.
    for progress in session.walkforward():
        if progress.state == "running":
            assert progress.done == 1, "the first window is published before the second ends"
    assert done.total == done.done == 2 and done.efficiency_definition == WFE_DEFINITION
    for number, window in enumerate(done.windows, 1):
        first = FIRST_DAY + timedelta(days=number - 1)
        assert window.number == number and window.trials == 9
        assert {k: window.best_params[k] for k in BEST} == BEST
        assert window.in_sample.start == first.isoformat()
        assert window.out_of_sample.start == (first + timedelta(days=1)).isoformat()
        assert window.in_sample.trades == window.out_of_sample.trades == 1
        assert window.in_sample.total_return > 0
        ins, outs = window.in_sample.annualized_return, window.out_of_sample.annualized_return
        assert ins and outs is not None and window.efficiency == pytest.approx(outs / ins)
    assert done.efficiency is not None and done.efficiency > 0
    status = result_of(await session.command("walkforward.status"), WalkForwardStatusResult)
    assert status.progress == done


async def test_a_cancelled_walk_forward_is_named_so(session: Session) -> None:
    reply = await session.command(
        "walkforward.run", strategy="timed_swing.py", train=1, test=1, method="grid",
        objective="total_return", trials=110, jobs=1, name="long",
    )  # fmt: skip
    assert reply.status == "accepted", reply.reason
    await asyncio.sleep(1.0)
    reply = await session.command("walkforward.cancel")
    assert reply.status == "accepted" and reply.result == {"run_id": "wf1", "name": "long"}
    topic = session.observer.topics.walkforward_progress
    cancelled = await session.wait(topic, WalkForwardProgress, {"cancelled"}, timeout=20)
    assert cancelled.done < 2
    await session.refused("walkforward.cancel", "no walk-forward is running")


async def test_monte_carlo_of_a_backtest_the_engine_ran(session: Session) -> None:
    reply = await session.command("backtest.run", strategy="flipper.py", params={"every": 40})
    assert reply.status == "accepted", reply.reason
    topic = session.observer.topics.backtest_progress
    backtest = await session.wait(topic, BacktestProgress, {"done", "failed"}, timeout=120)
    assert backtest.state == "done" and backtest.result_id, backtest.error
    reply = await session.command(
        "montecarlo.run", result=backtest.result_id, runs=3000, method="bootstrap", seed=7,
        ruin=0.997,
    )  # fmt: skip
    assert reply.status == "accepted", reply.reason
    topic = session.observer.topics.montecarlo_progress
    done = await session.wait(topic, MonteCarloProgress, {"done", "failed"}, timeout=120)
    assert done.state == "done", done.error

    stored = load_result(session.data_dir / "backtests", backtest.result_id)
    pnls = trade_pnls(stored.trades)
    expected = simulate(
        pnls, float(stored.summary.initial_equity), runs=3000, method="bootstrap", seed=7,
        ruin_fraction=0.997,
    ).summary  # fmt: skip
    assert done.trades == len(pnls) > 20 and done.currency == "KRW"
    assert msgspec.to_builtins(done.final_equity) == msgspec.to_builtins(expected.final_equity)
    assert done.probability_of_ruin == expected.probability_of_ruin
    assert 0 < done.probability_of_ruin < 1, "a ruin line inside the runs' spread"
    assert done.percentiles == [5, 25, 50, 75, 95] and done.fan_runs == 3000
    assert done.fan_x[0] == 0 and done.fan_x[-1] == len(pnls)
    assert all(len(curve) == len(done.fan_x) for curve in done.fan)
    assert {curve[0] for curve in done.fan} == {done.initial_equity}
    for column in zip(*done.fan, strict=True):
        assert list(column) == sorted(column), "percentile curves never cross"
    assert done.fan[2][-1] == pytest.approx(expected.final_equity.p50)
    status = result_of(await session.command("montecarlo.status"), MonteCarloStatusResult)
    assert status.progress == done


async def test_bad_arguments_are_refused_naming_the_field(session: Session) -> None:
    for type_, args, reason in (
        ("walkforward.run", {"strategy": "timed_swing.py", "train": 0}, "train"),
        ("walkforward.run", {"strategy": "nope.py"}, "strategy:"),
        ("walkforward.run", {"strategy": "../x.py"}, "strategy"),
        ("walkforward.run", {"strategy": "timed_swing.py", "mode": "sideways"}, "mode"),
        ("walkforward.run", {"strategy": "timed_swing.py", "objective": "luck"}, "objective"),
        ("walkforward.run", {"strategy": "timed_swing.py", "params": {"nope": 1}}, "nope"),
        (
            "walkforward.run",
            {"strategy": "timed_swing.py", "train": 5, "trials": 110},
            "train, test: 3 recorded",
        ),
        ("walkforward.run", {"strategy": "timed_swing.py", "name": "a/b"}, "name 'a/b'"),
        ("montecarlo.run", {"result": "missing"}, "result: no stored backtest 'missing'"),
        ("montecarlo.run", {"result": "x", "runs": 0}, "runs"),
        ("montecarlo.run", {"result": "x", "ruin": 1.0}, "ruin"),
        ("montecarlo.run", {"result": "x", "method": "shuffled"}, "method"),
    ):
        await session.refused(type_, reason, **args)
    await session.refused("walkforward.cancel", "no walk-forward is running")
    status = result_of(await session.command("montecarlo.status"), MonteCarloStatusResult)
    assert status.progress is None


def test_a_walk_forward_reports_each_window_as_it_ends(tmp_path: Path) -> None:
    # The engine's worker puts each window on its queue from this callback (robustness_worker).
    from engine.optimize.study import StudySpec
    from engine.optimize.walkforward import run_walkforward

    write_days(tmp_path / "ticks")
    reported: list[int] = []
    spec = StudySpec(
        strategy_file=str(STRATEGIES / "timed_swing.py"), data_dir=str(tmp_path / "ticks"),
        method="grid", objective="total_return", trials=9, overrides=SEARCH,
    )  # fmt: skip

    def on_window(window: Any) -> None:
        reported.append(window.number)
        # Reported before the next window's search starts, not collected at the end.
        assert not (tmp_path / "wf" / "wf" / f"window-{window.number + 1}").exists()

    result = run_walkforward(
        spec, Settings(), tmp_path / "wf", "wf", train=1, test=1, jobs=1, on_window=on_window
    )
    assert reported == [window.number for window in result.windows] == [1, 2]
