"""Death is always visible: whatever ends the engine other than a clean stop leaves the retained
``engine/status`` offline with the reason, within the keepalive, and the process exits non-zero.

Each case runs the real engine subprocess on a real Mosquitto. Faults inside tasks come from
``STOM_INJECT_FAULT`` (engine/fault_injection.py: inert unless set); the fatal signal and
``kill -9`` are real. Before the fix, a failing task left ``running`` retained (the client
disconnected cleanly, so no will fired) and a hung command handler left a zombie that kept
sending heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from engine.cli.demo_command import demo_settings_args
from engine.config.settings import BusSettings, Settings
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from engine.supervisor import MIN_COMMAND_LIMIT_S
from engine.venues.loopback_host import LoopbackHost
from tests.support.brokers import Broker
from tests.support.engine_process import ROOT, EngineProcess, Observer, unique_namespace
from tests.support.remote_engines import remote_engine

pytestmark = pytest.mark.integration

KEEPALIVE_S = 2
AFTER_S = 0.8
"""The fault is due this long after the engine started its tasks."""


@contextlib.asynccontextmanager
async def running_engine(
    broker: Broker, tmp_path: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[EngineProcess, Observer]]:
    """An engine (keepalive :data:`KEEPALIVE_S`) an observer has seen running; stopped after."""
    namespace = unique_namespace()
    engine = EngineProcess(
        broker.url, namespace, keepalive=KEEPALIVE_S, data_dir=tmp_path, env=env
    ).start()
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 30)
            yield engine, observer
    finally:
        engine.stop()


async def offline_status(observer: Observer, timeout: float) -> tuple[p.EngineStatus, float]:
    def check() -> p.EngineStatus | None:
        status = observer.latest(observer.topics.status, p.EngineStatus)
        return status if status is not None and status.state == "offline" else None

    status = await observer.wait_for(check, timeout, "retained offline")
    return status, time.monotonic()


async def retained_status(broker: Broker, namespace: str) -> p.EngineStatus | None:
    """What a client connecting now is told (the retained message, not the stream)."""
    async with remote_engine(broker.url, namespace) as remote:
        return await remote.status(timeout=2.0)


async def submit_market_buy(broker: Broker, namespace: str) -> None:
    async with remote_engine(broker.url, namespace) as remote:
        reply = await remote.request(
            "order.submit",
            {"instrument": "KRW-BTC.SIM", "side": "buy", "type": "market", "quantity": "0.001"},
            timeout=5,
        )
    assert reply.status == "accepted", reply.reason


async def publish_ping(broker: Broker, namespace: str) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        command = p.Command(id="p1", type="ping", reply_to=f"stom/{namespace}/reply/t", args={})
        await client.publish(Topics(namespace).commands, encode(command), qos=1)


async def send_ping(broker: Broker, namespace: str) -> None:
    async with remote_engine(broker.url, namespace) as remote:
        with pytest.raises(TimeoutError):
            await remote.request("ping", timeout=MIN_COMMAND_LIMIT_S + 3)


def stom_status(broker: Broker, namespace: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "empty.toml").write_text("")
    return subprocess.run(
        [sys.executable, "-m", "engine", "status", "--config", str(tmp_path / "empty.toml"),
         "--broker", broker.url, "--namespace", namespace],
        capture_output=True, text=True, timeout=30, cwd=ROOT, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("STOM_")},
    )  # fmt: skip


CASES: dict[str, tuple[str, str]] = {
    # point: (task named in the reason, what the reason says failed)
    "market": ("market task failed", "injected fault in market"),
    "stats": ("stats task failed", "injected fault in stats"),
    "strategy-files": ("strategy-files task failed", "injected fault in strategy-files"),
    "bus": ("bus task failed", "injected fault in bus"),
    "bus-reader": ("bus task failed", "injected fault in bus-reader"),
    "journal": ("market task failed", "injected fault in journal: writing a fill failed"),
    "feed": ("feed-UPBIT task failed", "injected fault in feed"),
    # A stray sys.exit() in a task ends the event loop itself, past the node's supervision.
    "market-exit": ("engine process ended", "SystemExit: 3"),
}


async def fault_case(broker: Broker, tmp_path: Path, point: str) -> None:
    """One engine, one fault at ``point``: retained offline with the reason, in time, exit 1."""
    namespace = unique_namespace()
    data_dir = tmp_path / point
    extra = ["--set", "strategies.reload_s=0.1"]
    host = None
    if point == "feed":
        host = LoopbackHost("upbit", seed=3)
        extra += demo_settings_args(await asyncio.to_thread(host.start), live=False)
    engine = EngineProcess(
        broker.url,
        namespace,
        keepalive=KEEPALIVE_S,
        data_dir=data_dir,
        extra=extra,
        env={"STOM_INJECT_FAULT": f"{point}:{AFTER_S}"},
    )
    data_dir.mkdir()
    engine.start()
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 40)
            running_at = time.monotonic()
            if point == "journal":  # the fill after the fault is due is what fails to journal
                await asyncio.sleep(AFTER_S + 0.2)
                await submit_market_buy(broker, namespace)
                due_at = time.monotonic()
            elif point == "bus-reader":  # the reader fails on the next message it reads
                await asyncio.sleep(AFTER_S + 0.2)
                await publish_ping(broker, namespace)
                due_at = time.monotonic()
            else:
                due_at = running_at + AFTER_S
            status, seen_at = await offline_status(observer, 10)
            if point == "feed":  # md/feeds no longer says live (issue 11, finding 2)

                def feeds_down() -> bool:
                    health = observer.latest(observer.topics.feeds, p.FeedsHealth)
                    return health is not None and all(r.state == "down" for r in health.feeds)

                await observer.wait_for(feeds_down, 5, "md/feeds down")
        task, what = CASES[point]
        assert status.reason is not None and task in status.reason and what in status.reason
        assert seen_at - due_at < KEEPALIVE_S, f"offline {seen_at - due_at:.2f} s after the fault"
        # Non-zero: the service unit restarts it.
        code = await asyncio.to_thread(engine.wait, 10)
        assert code == (3 if point == "market-exit" else 1)
        retained = await retained_status(broker, namespace)
        assert retained is not None and retained.state == "offline"
        assert retained.reason == status.reason
        if point == "stats":  # `stom status` says so too
            said = await asyncio.to_thread(stom_status, broker, namespace, data_dir)
            assert said.returncode == 1 and "engine: offline" in said.stdout
            assert f"reason: {status.reason}" in said.stdout
    finally:
        await asyncio.to_thread(engine.stop)
        if host is not None:
            host.stop()
    log = engine.log()
    if point == "market-exit":
        assert status.reason in log
    else:
        assert f"fault: {status.reason}" in log and "exits on a fault" in log


async def test_a_fault_in_any_task_leaves_retained_offline_with_the_reason(
    mosquitto: Broker, tmp_path: Path
) -> None:
    # A few engines at a time: the suite's time, without crowding a small CI machine.
    slots = asyncio.Semaphore(3)

    async def one(point: str) -> str | None:
        async with slots:
            try:
                await fault_case(mosquitto, tmp_path, point)
            except AssertionError as exc:
                return f"{point}: {exc}"
        return None

    failures = [f for f in await asyncio.gather(*(one(point) for point in CASES)) if f]
    assert not failures, "\n".join(failures)


async def test_a_command_unanswered_past_the_keepalive_is_a_fault_not_a_zombie(
    mosquitto: Broker, tmp_path: Path
) -> None:
    hang = {"STOM_INJECT_FAULT": "hang:0"}
    async with running_engine(mosquitto, tmp_path, hang) as (engine, observer):
        pinging = asyncio.create_task(send_ping(mosquitto, engine.namespace))
        sent_at = time.monotonic()
        status, seen_at = await offline_status(observer, 10)
        await pinging
        assert status.reason is not None
        assert "(ping) unanswered for" in status.reason and "keepalive" in status.reason
        # The hung command is found after the keepalive (5 s at least), and said at once.
        assert seen_at - sent_at < MIN_COMMAND_LIMIT_S + KEEPALIVE_S
        assert engine.wait(10) == 1


KILLS: dict[str, tuple[int, Callable[[str], bool]]] = {
    "SIGHUP": (signal.SIGHUP, lambda reason: reason == "killed by signal SIGHUP"),
    "SIGKILL": (signal.SIGKILL, lambda reason: "last will" in reason),
}


@pytest.mark.parametrize("name", list(KILLS))
async def test_a_signal_or_kill_9_leaves_retained_offline(
    mosquitto: Broker, tmp_path: Path, name: str
) -> None:
    sig, reason_ok = KILLS[name]
    async with running_engine(mosquitto, tmp_path) as (engine, observer):
        engine.signal(sig)
        killed_at = time.monotonic()
        status, seen_at = await offline_status(observer, 10)
        assert status.reason is not None and reason_ok(status.reason), status.reason
        assert seen_at - killed_at < KEEPALIVE_S
        assert engine.wait(10) != 0
        retained = await retained_status(mosquitto, engine.namespace)
        assert retained is not None and retained.state == "offline"


async def test_the_console_shows_the_engines_death_and_its_reason(
    mosquitto: Broker, tmp_path: Path
) -> None:
    from stom_tui.app import StomApp
    from stom_tui.feed import MqttFeed
    from tests.test_end_to_end import engine_running, until

    namespace = unique_namespace()
    engine = EngineProcess(
        mosquitto.url,
        namespace,
        keepalive=KEEPALIVE_S,
        data_dir=tmp_path,
        env={"STOM_INJECT_FAULT": "stats:3"},
    )
    settings = Settings(
        bus=BusSettings(url=mosquitto.url, namespace=namespace, keepalive_s=KEEPALIVE_S)
    )
    app = StomApp(settings, MqttFeed(settings, host=mosquitto.host, port=mosquitto.port))
    reason = "stats task failed: InjectedFault: injected fault in stats"
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            # The console first, so it sees the engine live before the fault, however slow.
            await until(pilot, lambda: app.refresh_health().feed_connected, 20, "the feed")
            engine.start()
            await until(pilot, lambda: engine_running(app), 30, "the engine running")
            await until(
                pilot, lambda: app.refresh_health().reason == reason, 10, "the reason shown"
            )
            health = app.refresh_health()
            assert health.offline and health.state == "offline"
            assert reason in str(app.status_line.render())
            notice = f"engine {health.engine_id} offline ({reason})"
            assert any(notice in line for line in app.log_pane.entries)
            await pilot.press("q")
    finally:
        engine.stop()
