"""A dying engine alerts, and so does the next one about a death it could not report itself.

A task fault sends a ``DIED`` alert with the reason before the engine exits; an engine killed with
``kill -9`` cannot, so the engine started after it (by the service unit, or by hand) finds the
retained ``offline`` status and alerts about the previous engine's end.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.test_engine_alerts import CHAT, alerting, until, with_text

pytestmark = pytest.mark.integration


async def test_a_fault_alerts_and_the_next_engine_reports_a_kill_9(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    with alerting(tmp_path) as (bot, _, config, data):

        def engine(fault: str | None = None) -> EngineProcess:
            env = {"STOM_INJECT_FAULT": fault} if fault else {}
            extra = ["--config", str(config)]
            return EngineProcess(mosquitto.url, namespace, data_dir=data, extra=extra, env=env)

        dying = engine("market:1.0").start()
        try:
            died = await until(lambda: with_text(bot, CHAT, " DIED "), 30)
            assert "market task failed: InjectedFault: injected fault in market" in died[0]
            assert dying.wait(10) == 1
        finally:
            dying.stop()

        killed = engine().start()
        try:
            async with Observer(mosquitto.host, mosquitto.port, namespace) as observer:
                status = await observer.wait_status("running", 30)
                # The fault before this engine was reported by that engine itself: not again.
                assert not with_text(bot, CHAT, "ended without a clean stop")
                killed.signal(signal.SIGKILL)
                killed.wait(10)
                await observer.wait_status("offline", 10)
        finally:
            killed.stop()

        after = engine().start()
        try:
            report = await until(lambda: with_text(bot, CHAT, "ended without a clean stop"), 30)
            assert f"previous engine {status.engine_id}" in report[0]
            assert "last will" in report[0]
        finally:
            after.stop()
