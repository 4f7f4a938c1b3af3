"""Forwards the engine's log records to the bus as ordered LogEvents."""

from __future__ import annotations

import logging

from engine.domain.clock import Clock
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics

_LEVELS: dict[int, p.LogLevel] = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


class BusLogHandler(logging.Handler):
    """Puts each record on the outbox's ordered event queue (never blocks, never raises)."""

    def __init__(self, outbox: Outbox, topics: Topics, clock: Clock, level: int) -> None:
        super().__init__(level)
        self.outbox = outbox
        self.topic = topics.log
        self.clock = clock
        self.seq = 0

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
                message=message,
            )
            self.outbox.put_event(self.topic, encode(event), qos=1)
        except Exception:
            self.handleError(record)
