"""``stom``: ensure a broker, attach to a live engine or start one, and open the console.

Quitting stops only what this command started: an engine it spawned (cleanly, SIGTERM) and an
embedded broker it started. An engine it attached to keeps running.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path

from engine.broker import EmbeddedBroker, broker_answers
from engine.cli.common import broker_of, fail
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import Settings
from engine.config.tls import make_tls_context
from engine.protocol import payloads as p


def ensure_broker(settings: Settings, address: BrokerAddress) -> EmbeddedBroker | None:
    """None if a broker answers at the address; else the embedded broker we started there."""
    if broker_answers(address.host, address.port):
        return None
    if not settings.bus.embedded:
        fail(
            f"no MQTT broker answers at {address} and the embedded broker is off "
            "([bus] embedded = false); start your broker or fix [bus] url"
        )
    if not address.is_loopback or address.tls:
        fail(
            f"no MQTT broker answers at {address}; the embedded broker runs only on a loopback "
            "mqtt:// address (start your broker, or use mqtt://127.0.0.1:1883)"
        )
    broker = EmbeddedBroker(address.host, address.port)
    try:
        broker.start()
    except RuntimeError as exc:
        fail(str(exc))
    return broker


async def find_live_engine(
    settings: Settings, address: BrokerAddress, password: Secret | None
) -> p.EngineStatus | None:
    try:
        async with RemoteEngine(settings, address, password) as remote:
            return await remote.alive_engine(timeout=1.0)
    except ConnectionError as exc:
        fail(str(exc))
        raise  # unreachable


def spawn_engine(settings: Settings, passthrough: list[str]) -> subprocess.Popen[bytes]:
    """The engine as a child process; its stderr goes to a log file, never onto the screen."""
    log_dir = Path(settings.data.dir).expanduser() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"engine-{settings.bus.namespace}.log"
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "engine", *passthrough],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C in the terminal goes to the app, which stops us
            env=os.environ.copy(),
        )


def stop_engine(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_console(settings: Settings, passthrough: list[str]) -> int:
    address, password = broker_of(settings)
    broker = ensure_broker(settings, address)
    engine: subprocess.Popen[bytes] | None = None
    try:
        live = asyncio.run(find_live_engine(settings, address, password))
        if live is not None:
            note = f"attached to engine {live.engine_id} (pid {live.pid})"
        elif settings.app.spawn_engine:
            engine = spawn_engine(settings, passthrough)
            note = f"started engine (pid {engine.pid})"
        else:
            note = "waiting for an engine ([app] spawn_engine = false)"
        from stom_tui.app import StomApp
        from stom_tui.feed import MqttFeed

        feed = MqttFeed(
            settings,
            host=address.host,
            port=address.port,
            username=settings.bus.username or None,
            password=password.reveal() if password else None,
            tls_context=_tls(settings, address),
        )
        label = f"{address}" + (" (embedded)" if broker is not None else "")
        StomApp(settings, feed, broker_label=label, engine_note=note).run()
    finally:
        if engine is not None:
            stop_engine(engine)
        if broker is not None:
            broker.stop()
    return 0


def _tls(settings: Settings, address: BrokerAddress) -> ssl.SSLContext | None:
    return make_tls_context(settings.bus) if address.tls else None
