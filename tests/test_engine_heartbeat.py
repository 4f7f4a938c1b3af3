"""The engine's heartbeat (``engine/stats``) comes at least four times per keepalive, so a console
that calls the engine offline after ``keepalive_s`` without one is not fooled by one heartbeat
delayed by a busy moment (docs/protocol.md), through the real engine subprocess and Mosquitto."""

from __future__ import annotations

from itertools import pairwise
from statistics import median

import pytest

from engine.protocol import payloads as p
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("keepalive", "period"), [(2, 0.5), (8, 1.0)])
async def test_heartbeats_come_at_least_four_times_a_keepalive(
    mosquitto: Broker, keepalive: int, period: float
) -> None:
    namespace = unique_namespace()
    engine = EngineProcess(mosquitto.url, namespace, rate=200, keepalive=keepalive).start()
    try:
        async with Observer(mosquitto.host, mosquitto.port, namespace) as observer:
            await observer.wait_status("running")

            def beats() -> list[p.EngineStats]:
                return observer.all(observer.topics.stats, p.EngineStats)

            await observer.wait_for(lambda: len(beats()) >= 8, 20, "eight heartbeats")
            times = [beat.ts for beat in beats()]
            gaps = [(b - a) / 1e9 for a, b in pairwise(times)]
            assert period * 0.8 <= median(gaps) <= period * 1.3, gaps
    finally:
        engine.stop()
