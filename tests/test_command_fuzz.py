"""Seeded fuzzing of the command edge (issue 12, "Must show"): 10,000 hostile command payloads.

Most go in-process through the real decoder and dispatcher (:meth:`CommandRouter.receive`, the
bus's own path) onto the real trading core (OMS, risk, paper venue, journal) and the real
strategy, backtest and optimizer services; a batch goes through a real engine subprocess on a
real Mosquitto. Asserted after every batch: the engine answers ``ping``; every payload that names
our ``reply_to`` got exactly one reply, with a reason when rejected; no traceback and no
"internal error" reached a reply; the journal's audit trail grew by bounded rows only.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.backtest.service import BacktestService
from engine.commands import CommandRouter
from engine.config.settings import Settings
from engine.config.strategy_settings import StrategiesSettings
from engine.oms.trading_commands import TradingCommands
from engine.optimize.service import OptimizeService
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.commands import NoArgs
from engine.protocol.results import RESULT_TYPES, result_of
from engine.protocol.topics import Topics
from engine.strategy.service import StrategyService
from tests.support.brokers import running_broker
from tests.support.command_fuzz import Case, CommandFuzzer
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.raw_commands import RawClient
from tests.support.strategy_desk import StrategyDesk

IN_PROCESS = 10_000
THROUGH_ENGINE = 600
BATCH = 1_000
MAX_REASON = 2_000
"""Characters of a rejection's reason: what it echoes of the input is shortened."""
MAX_AUDIT_ROW = 4_096
"""Bytes of one audit row's arguments: typed, every field capped (it was 1-10 MB)."""


def check_replies(cases: list[Case], replies: dict[str, list[p.Reply]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for case in cases:
        got = replies.get(case.request_id, [])
        assert len(got) == case.expect, (case, got)
        for reply in got:
            outcomes[reply.status] += 1
            if reply.status == "rejected":
                assert reply.reason and len(reply.reason) <= MAX_REASON, (case, reply)
            else:  # an accepted result is its command's typed result, exactly
                result_of(reply, RESULT_TYPES[reply.type])
            text = f"{reply.reason} {reply.result}"
            assert "Traceback" not in text and 'File "' not in text, (case, reply)
            assert "internal error" not in text, (case, reply)
    return outcomes


async def test_ten_thousand_hostile_commands_in_process(tmp_path: Path) -> None:
    desk = StrategyDesk(tmp_path)
    try:
        topics = Topics("fuzz")
        router = CommandRouter(topics, desk.desk.clock)
        outbox = Outbox()
        settings = Settings(strategies=StrategiesSettings(dir=str(tmp_path / "strategies")))
        (tmp_path / "strategies").mkdir()

        async def ping(args: NoArgs) -> dict[str, object]:
            return {"engine_id": "fuzz", "ts": 1}

        router.register("ping", ping)
        TradingCommands(desk.desk.oms, desk.desk.clock, live_venues=frozenset({"UPBIT"})).register(
            router
        )
        StrategyService(
            settings.strategies, desk.runner, desk.desk.core.journal, outbox, topics
        ).register(router)
        BacktestService(settings, outbox, topics, desk.desk.clock.now_ns).register(router)
        OptimizeService(settings, outbox, topics, desk.desk.clock.now_ns).register(router)
        journal = Path(desk.desk.settings.journal.file)
        before = journal.stat().st_size
        fuzzer = CommandFuzzer(seed=12, reply_to=topics.reply("fuzzer"))
        outcomes: Counter[str] = Counter()
        start = time.monotonic()
        for _ in range(IN_PROCESS // BATCH):
            cases = list(fuzzer.cases(BATCH))
            replies: dict[str, list[p.Reply]] = {}
            for case in cases:
                answer = await router.receive(case.data)
                if answer is not None:
                    reply_to, reply = answer
                    assert reply_to == topics.reply("fuzzer"), (case, answer)
                    replies.setdefault(reply.id, []).append(reply)
            outcomes += check_replies(cases, replies)
            alive = await router.receive(_ping(topics))
            assert alive is not None and alive[1].status == "accepted"
        elapsed = time.monotonic() - start
        assert fuzzer.count == IN_PROCESS
        assert outcomes["accepted"] > 100 and outcomes["rejected"] > 5_000, outcomes
        with sqlite3.connect(journal) as db:
            rows, biggest = db.execute(
                "SELECT count(*), max(length(args)) FROM commands"
            ).fetchone()
        assert rows > 100 and biggest <= MAX_AUDIT_ROW, (rows, biggest)
        growth = journal.stat().st_size - before
        assert growth < rows * MAX_AUDIT_ROW, growth
        print(f"fuzz: {IN_PROCESS} commands in {elapsed:.1f} s, {dict(outcomes)}, "
              f"journal +{growth:,} bytes for {rows} audit rows (largest {biggest} B)")  # fmt: skip
    finally:
        desk.close()


def _ping(topics: Topics) -> bytes:
    return encode(p.Command(id="ping", type="ping", reply_to=topics.reply("fuzzer")))


@pytest.mark.integration
async def test_hostile_commands_through_a_real_engine_and_mosquitto() -> None:
    with running_broker("mosquitto") as broker:
        namespace = unique_namespace()
        engine = EngineProcess(broker.url, namespace).start()
        try:
            async with Observer(broker.host, broker.port, namespace) as observer:
                await observer.wait_status("running", timeout=20)
            async with RawClient(broker.host, broker.port, namespace) as client:
                fuzzer = CommandFuzzer(seed=1212, reply_to=client.reply_to)
                for _ in range(THROUGH_ENGINE // 200):
                    cases = list(fuzzer.cases(200))
                    for case in cases:
                        await client.publish(case.data)
                    await client.ping(timeout=15)
                    wanted = [c.request_id for c in cases if c.expect]
                    check_replies(cases, await client.answers(wanted, timeout=20))
            assert engine.process is not None and engine.process.poll() is None
        finally:
            engine.stop()
        assert "Traceback" not in engine.log()
        with sqlite3.connect(engine.dir / f"journal-{namespace}.sqlite") as db:
            query = "SELECT count(*), max(length(args)) FROM commands"
            rows, biggest = db.execute(query).fetchone()
        assert rows > 10 and biggest <= MAX_AUDIT_ROW, (rows, biggest)
