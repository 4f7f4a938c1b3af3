"""Forwards the engine's log records to the bus as ordered LogEvents, scrubbed of secrets.

Every console on the broker reads the ``log`` topic, so a line carries no more than the log file
does: known secret values become ``***`` here exactly as in the file (engine/service/log_files.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from engine.config.errors import ConfigError
from engine.config.secrets import Secret, load_secrets
from engine.config.settings import Settings
from engine.domain.clock import Clock
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.limits import MAX_LOG_TEXT, cap_text
from engine.protocol.topics import Topics
from engine.service.log_files import Scrubber

_LEVELS: dict[int, p.LogLevel] = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


class BusLogHandler(logging.Handler):
    """Puts each record on the outbox's ordered event queue (never blocks, never raises)."""

    def __init__(
        self,
        outbox: Outbox,
        topics: Topics,
        clock: Clock,
        level: int,
        secrets: Iterable[str] = (),
    ) -> None:
        super().__init__(level)
        self.outbox = outbox
        self.topic = topics.log
        self.clock = clock
        self.seq = 0
        self.scrub = Scrubber(secrets)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "bus", True) is False:
            return  # already on the bus in a structured form (fills on oms/events)
        try:
            self.seq += 1
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            event = p.LogEvent(
                ts=self.clock.now_ns(),
                seq=self.seq,
                level=_LEVELS.get(record.levelno, "info"),
                source=record.name.removeprefix("stom."),
                # Capped: the console decodes log lines within MAX_LOG_BYTES.
                message=cap_text(self.scrub(message), MAX_LOG_TEXT),
            )
            self.outbox.publish(self.topic, event)
        except Exception:
            self.handleError(record)


def known_secrets(settings: Settings, password: Secret | None) -> list[str]:
    """Every secret value the engine knows (secrets file, environment, the broker password)."""
    try:
        found = list(load_secrets(settings, os.environ).values())
    except ConfigError:
        found = []  # reported where the secret is needed, with the reason
    if password:
        found.append(password)
    return [secret.reveal() for secret in found]
