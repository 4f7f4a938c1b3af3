"""``stom engine``: the engine alone, headless; SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from engine.cli.common import broker_of
from engine.cli.remote import RemoteEngine
from engine.config.settings import Settings

log = logging.getLogger("stom.engine")


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.engine.log_level.upper())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.engine.log_file:
        Path(settings.engine.log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(settings.engine.log_file).expanduser()))
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        handlers=handlers,
    )
    logging.getLogger("stom").setLevel(level)


async def _serve(settings: Settings, config_path: Path | None) -> int:
    from engine.journal import JournalError
    from engine.node import EngineNode

    address, password = broker_of(settings)
    try:
        async with RemoteEngine(settings, address, password) as remote:
            other = await remote.alive_engine()
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
    try:
        node = EngineNode(settings, address, password)
    except (JournalError, ValueError) as exc:
        # A journal that cannot be opened or a risk limit that does not parse: nothing started.
        log.error("cannot start the engine: %s", exc)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.run(stop)
    except ConnectionError as exc:  # raised before any task starts: fail fast, clearly
        log.error("%s", exc)
        return 1
    log.info("engine %s stopped", node.engine_id)
    return 0


def run_engine(settings: Settings, config_path: Path | None) -> int:
    configure_logging(settings)
    return asyncio.run(_serve(settings, config_path))
