"""backtest.* commands: a run in a worker process, progress on the bus, results listed and read."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.backtest.sample_data import write_sample
from engine.backtest.service import BacktestService
from engine.commands import CommandRouter
from engine.config.settings import DataSettings, Settings
from engine.config.strategy_settings import StrategiesSettings
from engine.domain.clock import TestClock
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.protocol.strategies import BacktestProgress, BacktestResult
from engine.protocol.topics import Topics
from tests.support.strategy_desk import STRATEGIES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_sample(
        root / "ticks",
        symbols=["KRW-BTC"],
        days=2,
        first_day=date(2025, 11, 18),
        session_minutes=3,
        rate=300,
        seed=7,
    )
    return root


class Harness:
    def __init__(self, data_dir: Path) -> None:
        settings = Settings(
            data=DataSettings(dir=str(data_dir)), strategies=StrategiesSettings(dir=str(STRATEGIES))
        )
        self.outbox = Outbox()
        self.topics = Topics("t")
        self.clock = TestClock(1)
        self.service = BacktestService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.router = CommandRouter(self.topics, self.clock)
        self.service.register(self.router)
        self.progress: list[BacktestProgress] = []

    async def command(self, type_: str, **args: Any) -> p.Reply:
        return await self.router.handle(p.Command(id="c", type=type_, reply_to="x", args=args))

    def drain(self) -> None:
        for message in self.outbox.take():
            if message.topic == self.topics.backtest_progress:
                assert message.retain
                self.progress.append(decode(message.data, BacktestProgress))


async def test_a_run_reports_progress_and_its_result_can_be_reopened(data_dir: Path) -> None:
    harness = Harness(data_dir)
    reply = await harness.command(
        "backtest.run",
        strategy="tick_momentum.py",
        instruments=["KRW-BTC.SIM"],
        start="2025-11-18",
        end="2025-11-19",
        params={"window": 20, "threshold": 0.6, "take_profit_bps": 4.0, "stop_loss_bps": 4.0},
    )
    assert reply.status == "accepted", reply.reason
    assert reply.result == {"run_id": "bt1"}
    busy = await harness.command("backtest.run", strategy="tick_momentum.py")
    assert busy.status == "rejected" and "bt1 is still running" in (busy.reason or "")
    deadline = time.monotonic() + 120
    while harness.service.running and time.monotonic() < deadline:
        harness.service.poll()
        harness.drain()
        await asyncio.sleep(0.05)
    harness.service.poll()
    harness.drain()
    states = [progress.state for progress in harness.progress]
    assert states[0] == "starting" and states[-1] == "done", harness.progress[-1]
    done = harness.progress[-1]
    assert done.result_id and done.total > 0 and done.done == done.total

    listing = await harness.command("backtest.list")
    assert listing.result is not None
    assert [r["id"] for r in listing.result["results"]] == [done.result_id]
    assert listing.result["datasets"] == [
        {"instrument_id": "KRW-BTC.SIM", "first_day": "2025-11-18", "last_day": "2025-11-19",
         "days": 2}
    ]  # fmt: skip
    reply = await harness.command("backtest.result", id=done.result_id)
    assert reply.status == "accepted"
    result = msgspec.convert(reply.result, BacktestResult)
    assert result.strategy == "TickMomentum" and result.params["window"] == 20
    assert result.trade_stats.trades == len(result.trades) == result.trades_total > 0
    assert len(result.equity) >= 2


async def test_bad_requests_are_rejected_with_the_reason(data_dir: Path) -> None:
    harness = Harness(data_dir)
    for args, reason in (
        ({"strategy": "../evil.py"}, "strategy: expected a .py file in"),
        ({"strategy": "nope.py"}, "nope.py does not exist"),
        ({"strategy": "tick_momentum.py", "params": "x"}, "args.params: expected `object"),
    ):
        reply = await harness.command("backtest.run", **args)
        assert reply.status == "rejected" and reason in (reply.reason or ""), reply.reason
    reply = await harness.command("backtest.result", id="no-such-result")
    assert reply.status == "rejected" and "no-such-result" in (reply.reason or "")
    reply = await harness.command("backtest.cancel")
    assert reply.status == "rejected" and reply.reason == "no backtest is running"


async def test_a_broken_strategy_fails_the_run_with_file_and_line(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "broken.py").write_text("from engine.strategy.api import Strategy\nx = nope\n")
    harness = Harness(data_dir)
    harness.service.settings = msgspec.structs.replace(
        harness.service.settings, strategies=StrategiesSettings(dir=str(folder))
    )
    reply = await harness.command("backtest.run", strategy="broken.py")
    assert reply.status == "accepted", reply.reason
    deadline = time.monotonic() + 60
    while harness.service.running and time.monotonic() < deadline:
        harness.service.poll()
        await asyncio.sleep(0.05)
    harness.drain()
    last = harness.progress[-1]
    assert last.state == "failed"
    assert last.error == f"{folder / 'broken.py'}:2: NameError: name 'nope' is not defined"
