"""``stom engine``: the engine alone, headless; SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from engine.cli.common import broker_of
from engine.cli.remote import RemoteEngine
from engine.config.settings import Settings
from engine.protocol import payloads as p

log = logging.getLogger("stom.engine")


def configure_logging(settings: Settings) -> None:
    from engine.config.errors import ConfigError
    from engine.config.secrets import load_secrets
    from engine.service.log_files import engine_handlers

    level = getattr(logging, settings.engine.log_level.upper())
    try:
        secrets = [secret.reveal() for secret in load_secrets(settings, os.environ).values()]
    except ConfigError:
        secrets = []  # reported when the broker password is read, with the reason
    logging.basicConfig(level=logging.WARNING, handlers=engine_handlers(settings.engine, secrets))
    logging.getLogger("stom").setLevel(level)


async def _serve(
    settings: Settings, config_path: Path | None, started: list[Any], fresh_broker: bool
) -> int:
    from engine.journal import JournalError
    from engine.node import EngineNode
    from engine.supervisor import EngineFault

    address, password = broker_of(settings)
    other: p.EngineStatus | None = None
    previous: p.EngineStatus | None = None
    try:
        if not fresh_broker:  # a broker started a moment ago holds no status and no engine
            async with RemoteEngine(settings, address, password) as remote:
                other = await remote.alive_engine()
                previous = remote.last_status  # an offline one: the engine before died
    except ConnectionError as exc:
        log.error("%s", exc)
        return 1
    if other is not None:
        log.error(
            "an engine is already running in namespace %r (engine %s, pid %s); "
            "stop it first or use another --namespace",
            settings.bus.namespace,
            other.engine_id,
            other.pid,
        )
        return 1
    from engine.config.errors import ConfigError
    from engine.domain.clock import LiveClock
    from engine.venues.feeds import VenueStartError, open_venue_set

    try:
        venues = await open_venue_set(settings, LiveClock())
    except ConfigError as exc:  # a live venue without its keys: named, nothing started
        log.error("configuration error: %s", exc)
        return 2
    except VenueStartError as exc:
        log.error("cannot start the engine: %s", exc)
        return 1
    try:
        node = EngineNode(settings, address, password, venues=venues)
        started.append(node)
    except (JournalError, ValueError) as exc:
        # A journal that cannot be opened or a risk limit that does not parse: nothing started.
        log.error("cannot start the engine: %s", exc)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.run(stop, previous=previous)
    except ConnectionError as exc:  # raised before any task starts: fail fast, clearly
        log.error("%s", exc)
        return 1
    except EngineFault as exc:  # already said offline with the reason, alerted and logged
        log.error("engine %s exits on a fault: %s", node.engine_id, exc)
        return 1
    log.info("engine %s stopped", node.engine_id)
    return 0


def run_engine(settings: Settings, config_path: Path | None, *, fresh_broker: bool = False) -> int:
    configure_logging(settings)
    started: list[Any] = []  # the node, once there is one
    try:
        return asyncio.run(_serve(settings, config_path, started, fresh_broker))
    except BaseException as exc:
        # Whatever ends the process past the node's own supervision (SystemExit or
        # KeyboardInterrupt out of a task end the event loop itself): say so, then go on dying.
        if started:
            from engine.bus import describe_exception

            reason = f"engine process ended: {describe_exception(exc)}"
            log.critical("%s", reason)
            with contextlib.suppress(BaseException):
                asyncio.run(started[0].bus.say_offline(reason))
        raise
