"""Reading a TOML file into a dict, with syntax errors reported as ``file:line:column``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from engine.config.errors import ConfigError

_POSITION_RE = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_END_RE = re.compile(r"^(?P<msg>.*) \(at end of document\)$")


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text`` read from ``where`` (a path as the user should see it)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, reason = _error_position(exc, text)
        raise ConfigError(f"{where}:{line}:{column}: invalid TOML: {reason}") from None


def read_toml_file(path: Path) -> dict[str, Any]:
    """Read and parse the TOML file at ``path``; every failure is a :class:`ConfigError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return parse_bytes(data, path)


def parse_bytes(data: bytes, path: Path) -> dict[str, Any]:
    """Decode ``data`` (the contents of ``path``) as UTF-8 and parse it as TOML."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: invalid TOML: the file is not UTF-8 text") from None
    return parse_toml(text, str(path))


def _error_position(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, int, str]:
    # Python 3.14 puts the position on the exception; 3.11 to 3.13 only write it into the message.
    lineno, colno, msg = (getattr(exc, name, None) for name in ("lineno", "colno", "msg"))
    if isinstance(lineno, int) and isinstance(colno, int):
        return lineno, colno, str(msg)
    message = str(exc)
    if match := _POSITION_RE.match(message):
        return int(match["line"]), int(match["column"]), match["msg"]
    reason = match["msg"] if (match := _END_RE.match(message)) else message
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1, f"{reason} (at the end of the file)"
