"""optimize.* commands: a run in a driver process, progress and leaderboard on the retained
topic, cancel (resumable), studies listed; bad requests rejected with the reason."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from engine.commands import CommandRouter
from engine.config.settings import DataSettings, Settings
from engine.config.strategy_settings import StrategiesSettings
from engine.domain.clock import TestClock
from engine.optimize.service import OptimizeService
from engine.optimize.study import read_trials
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.protocol.optimize import OptimizeProgress
from engine.protocol.topics import Topics
from tests.support.optimum_data import BEST, write_optimum_dataset

pytestmark = pytest.mark.integration

STRATEGY = Path(__file__).parent / "strategies" / "timed_swing.py"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    write_optimum_dataset(tmp_path / "data" / "ticks")
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(STRATEGY, strategies / "timed_swing.py")
    return Harness(tmp_path / "data", strategies)


class Harness:
    def __init__(self, data_dir: Path, strategies: Path) -> None:
        settings = Settings(
            data=DataSettings(dir=str(data_dir)), strategies=StrategiesSettings(dir=str(strategies))
        )
        self.outbox = Outbox()
        self.topics = Topics("t")
        self.clock = TestClock(1)
        self.service = OptimizeService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.router = CommandRouter(self.topics, self.clock)
        self.service.register(self.router)
        self.progress: list[OptimizeProgress] = []

    async def command(self, type_: str, **args: Any) -> p.Reply:
        return await self.router.handle(p.Command(id="c", type=type_, reply_to="x", args=args))

    def drain(self) -> None:
        for message in self.outbox.take():
            if message.topic == self.topics.optimize_progress:
                assert message.retain
                self.progress.append(decode(message.data, OptimizeProgress))

    async def follow(self, until: Any = None) -> None:
        deadline = time.monotonic() + 90
        while self.service.running and time.monotonic() < deadline:
            self.service.poll()
            self.drain()
            if until is not None and until():
                return
            await asyncio.sleep(0.05)
        self.service.poll()
        self.drain()


async def test_a_run_publishes_progress_and_the_leaderboard(harness: Harness) -> None:
    reply = await harness.command(
        "optimize.run",
        strategy="timed_swing.py",
        method="grid",
        objective="total_return",
        trials=200,
        study="swing",
        jobs=2,
    )
    assert reply.status == "accepted", reply.reason
    assert reply.result == {"run_id": "opt1", "study": "swing"}
    busy = await harness.command("optimize.run", strategy="timed_swing.py")
    assert busy.status == "rejected" and "opt1 is still running" in (busy.reason or "")
    await harness.follow()
    states = [progress.state for progress in harness.progress]
    assert states[0] == "starting" and states[-1] == "done", harness.progress[-1]
    done = harness.progress[-1]
    assert done.done == done.total == 110 and done.evaluated == 110
    assert done.method == "grid" and done.objective == "total_return"
    best = done.leaderboard[0]
    assert {k: best.params[k] for k in BEST} == BEST and best.trades == 1
    assert len(done.leaderboard) == 10

    listing = await harness.command("optimize.list")
    assert listing.result is not None
    (study,) = listing.result["studies"]
    assert study["study"] == "swing" and study["trials"] == 110
    assert {k: study["best"]["params"][k] for k in BEST} == BEST


async def test_cancel_stops_cleanly_and_the_study_resumes(harness: Harness) -> None:
    args = {"strategy": "timed_swing.py", "method": "grid", "objective": "total_return",
            "trials": 1000, "study": "long", "jobs": 1,
            "params": {"hold": "100:1000:25"}}  # fmt: skip
    reply = await harness.command("optimize.run", **args)
    assert reply.status == "accepted", reply.reason
    await harness.follow(until=lambda: any(x.done >= 20 for x in harness.progress))
    reply = await harness.command("optimize.cancel")
    assert reply.status == "accepted", reply.reason
    await harness.follow()
    assert harness.progress[-1].state == "cancelled"
    stopped = harness.progress[-1].done
    assert 20 <= stopped < 407
    root = Path(harness.service.root)
    assert len(read_trials(root, "long")) == stopped
    harness.progress.clear()
    reply = await harness.command("optimize.run", resume="long", jobs=2)
    assert reply.status == "accepted", reply.reason
    await harness.follow()
    done = harness.progress[-1]
    assert done.state == "done" and done.done == 407 and done.evaluated == 407 - stopped


async def test_bad_requests_are_rejected_with_the_reason(harness: Harness) -> None:
    for args, reason in (
        ({"strategy": "../evil.py"}, "strategy: expected a .py file in"),
        ({"strategy": "nope.py"}, "nope.py does not exist"),
        (
            {"strategy": "timed_swing.py", "trials": 0},
            "trials: expected a whole number in 1..100000",
        ),
        (
            {"strategy": "timed_swing.py", "method": "anneal"},
            "method must be one of ga, grid, random; got 'anneal'",
        ),
        ({"strategy": "timed_swing.py", "objective": "luck"}, "objective 'luck': expected"),
        ({"strategy": "timed_swing.py", "params": {"nope": 1}}, "unknown parameter(s) nope"),
        ({"strategy": "timed_swing.py", "study": "a/b"}, "study name 'a/b'"),
        ({"strategy": "timed_swing.py", "method": "grid", "trials": 5}, "the grid has 110"),
        ({"resume": "missing"}, "no study 'missing'"),
        ({"strategy": "timed_swing.py", "jobs": 0}, "jobs: expected a whole number"),
    ):
        reply = await harness.command("optimize.run", **args)
        assert reply.status == "rejected" and reason in (reply.reason or ""), (args, reply.reason)
    reply = await harness.command("optimize.cancel")
    assert reply.status == "rejected" and reply.reason == "no optimization is running"
