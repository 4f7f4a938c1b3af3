"""A CLI command sent while the engine reconnects after a broker restart waits for it (issue 12,
finding 18) instead of saying "no engine is running".

A Mosquitto without persistence forgets the retained ``engine/status`` when it restarts; until the
engine reconnects (its backoff is up to 5 s) a client sees no engine at all. The engine is held
(SIGSTOP) across the restart so the command always lands in that window; before the fix it gave
up after 0.3 s.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from engine.cli.trading_command import _send
from engine.config.settings import BusSettings, Settings
from tests.support.brokers import MosquittoBroker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration


async def test_a_command_during_the_engines_reconnect_is_answered(tmp_path: Path) -> None:
    broker = MosquittoBroker()
    broker.start()
    namespace = unique_namespace()
    engine = EngineProcess(broker.url, namespace, keepalive=2, data_dir=tmp_path).start()
    settings = Settings(bus=BusSettings(url=broker.url, namespace=namespace, keepalive_s=2))
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 30)
        engine.signal(signal.SIGSTOP)
        broker.stop()
        broker = MosquittoBroker(broker.port)
        broker.start()  # no persistence: no retained status until the engine says so again
        sending = asyncio.create_task(_send(settings, "orders", {}))
        await asyncio.sleep(1.0)
        assert not sending.done(), "gave up while the engine was reconnecting"
        engine.signal(signal.SIGCONT)
        reply = await asyncio.wait_for(sending, 15)
        assert reply is not None and reply.status == "accepted"
    finally:
        engine.signal(signal.SIGCONT)
        engine.stop()
        broker.stop()
