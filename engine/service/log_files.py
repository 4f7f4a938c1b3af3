"""The engine's log output: a size-rotated file, text or JSON lines, with secrets scrubbed.

Secrets already print as ``***`` (the ``Secret`` type); the scrubber is the second line of
defence: whatever a library puts in a message (a URL with a bot token in it, say), any known
secret value in the final line is replaced before it reaches the terminal, the file or journald.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from collections.abc import Iterable
from pathlib import Path

from engine.config.settings import EngineSettings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed: replacing every "a" in a log would only hide the log."""


class Scrubber:
    """Replaces every known secret value in a text with ``***`` (the file, stderr, the bus)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted(
            {value for value in secrets if len(value) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for value in self.secrets:
            if value in text:
                text = text.replace(value, "***")
        return text


class ScrubbingFormatter(logging.Formatter):
    """Formats, then replaces every known secret value with ``***``."""

    def __init__(self, base: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.base = base
        self.scrub = Scrubber(secrets)

    @property
    def secrets(self) -> list[str]:
        return self.scrub.secrets

    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(self.base.format(record))


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, message, exception."""

    converter = staticmethod(time.gmtime)  # UTC; staticmethod as the base's own slot is one

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def engine_handlers(engine: EngineSettings, secrets: Iterable[str]) -> list[logging.Handler]:
    """stderr (text, for journald or the console's log file) and, if set, the rotating file."""
    values = list(secrets)
    stderr = logging.StreamHandler()
    stderr.setFormatter(ScrubbingFormatter(logging.Formatter(TEXT_FORMAT), values))
    handlers: list[logging.Handler] = [stderr]
    if engine.log_file:
        path = Path(engine.log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            path,
            maxBytes=max(1, int(engine.log_max_mb * 1024 * 1024)),
            backupCount=engine.log_backups,
            encoding="utf-8",
        )
        base = (
            JsonLinesFormatter() if engine.log_format == "json" else logging.Formatter(TEXT_FORMAT)
        )
        rotating.setFormatter(ScrubbingFormatter(base, values))
        handlers.append(rotating)
    return handlers
