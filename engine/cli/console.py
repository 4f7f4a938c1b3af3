"""``stom``: ensure a broker, attach to a live engine or start one, and open the console.

Quitting stops only what this command started: an engine it spawned (cleanly, SIGTERM) and an
embedded broker it started, unless the user chose to leave the engine running (then both stay:
the engine talks through that broker). An engine it attached to keeps running.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys

from engine.broker import EmbeddedBroker, broker_answers
from engine.broker_auth import broker_username, ensure_broker_password
from engine.cli.common import broker_of, fail
from engine.cli.engine_launch import SpawnedEngine, spawn_engine
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import BrokerAddress
from engine.config.errors import ConfigError
from engine.config.secrets import Secret
from engine.config.settings import Settings
from engine.config.tls import make_tls_context
from engine.protocol import payloads as p


def ensure_broker(
    settings: Settings, address: BrokerAddress, password: Secret | None
) -> tuple[EmbeddedBroker | None, Secret | None]:
    """``(None, password)`` if a broker answers at the address; else the embedded broker we
    started there, which admits only the user name and the password from the secrets file
    (generated there the first time: engine/broker_auth.py)."""
    if broker_answers(address.host, address.port):
        return None, password
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
    try:
        password = ensure_broker_password(settings, os.environ)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", code=2)
        raise  # unreachable
    username = broker_username(settings.bus, password)
    assert username is not None  # a password always comes with a user name
    broker = EmbeddedBroker(address.host, address.port, (username, password.reveal()))
    try:
        broker.start()
    except RuntimeError as exc:
        fail(str(exc))
    return broker, password


async def find_live_engine(
    settings: Settings, address: BrokerAddress, password: Secret | None
) -> p.EngineStatus | None:
    try:
        async with RemoteEngine(settings, address, password) as remote:
            return await remote.alive_engine(timeout=1.0)
    except ConnectionError as exc:
        fail(str(exc))
        raise  # unreachable


def run_console(settings: Settings, passthrough: list[str]) -> int:
    address, password = broker_of(settings)
    broker, password = ensure_broker(settings, address, password)
    engine: SpawnedEngine | None = None
    try:
        # A broker this command just started holds no engine yet: nothing to look for (the
        # look waits for a retained status that cannot be there, 0.3 s of the first frame).
        live = (
            None
            if broker is not None
            else asyncio.run(find_live_engine(settings, address, password))
        )
        if live is not None:
            note = f"attached to engine {live.engine_id} (pid {live.pid})"
        elif settings.app.spawn_engine:
            fresh = ["--fresh-broker"] if broker is not None else []
            engine = spawn_engine(settings, [*passthrough, *fresh])
            note = f"started engine (pid {engine.pid})"
        else:
            note = "waiting for an engine ([app] spawn_engine = false)"
        from stom_tui.app import StomApp
        from stom_tui.feed import MqttFeed

        feed = MqttFeed(
            settings,
            host=address.host,
            port=address.port,
            username=broker_username(settings.bus, password),
            password=password.reveal() if password else None,
            tls_context=_tls(settings, address),
        )
        label = f"{address}" + (" (embedded)" if broker is not None else "")
        app = StomApp(settings, feed, broker_label=label, engine_note=note, freeze_heap=True)
        if engine is not None:
            app.session.own_engine(engine)  # q asks before stopping it; start failures shown
        app.run()
    finally:
        left_running = close_session(engine, broker)
    if left_running:
        print(left_running)
    return 0


def close_session(engine: SpawnedEngine | None, broker: EmbeddedBroker | None) -> str | None:
    """After the console: stop what it started, unless the user left the engine running (then
    the embedded broker it talks through stays too). Returns what to tell the user then."""
    if engine is not None:
        engine.stop()  # nothing when the user chose to leave it running
    detached = engine is not None and engine.detached
    if broker is not None and not detached:
        broker.stop()
    return engine.attach_hint(_command_line()) if engine is not None and detached else None


def _command_line() -> str:
    """How this console was started, to run again (``stom --namespace desk``)."""
    return " ".join(["stom", *sys.argv[1:]])


def _tls(settings: Settings, address: BrokerAddress) -> ssl.SSLContext | None:
    return make_tls_context(settings.bus) if address.tls else None
