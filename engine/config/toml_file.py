"""Reading a TOML file into a dict, with syntax errors reported as ``file:line:column``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from engine.config.errors import ConfigError

_POSITION_RE = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_END_RE = re.compile(r"^(?P<msg>.*) \(at end of document\)$")

MAX_NESTING = 32
"""Deepest arrays / inline tables accepted. No setting nests more than three levels; tomllib
recurses once per level and raises RecursionError (a traceback, not a message) near 1,000, and the
messages below recurse over values too, so a far lower limit is checked before parsing."""
# The tokens that matter for nesting: strings and comments (whose brackets do not count),
# brackets, and newlines (for the line number). Multi-line strings first, so that ``"""`` is not
# read as an empty string followed by a quote. Every string pattern matches once it has started
# (an unterminated string runs to the end of its line or of the text), so no match attempt fails
# after scanning: the scan stays linear in the text's length, whatever the text.
_NESTING_TOKEN_RE = re.compile(
    r'"""(?:[^"\\]|\\.|\\\Z|"(?!""))*(?:"""|\Z)'
    r"|'''(?:[^']|'(?!''))*(?:'''|\Z)"
    r'|"(?:[^"\\\n]|\\[^\n]|\\(?=\n)|\\\Z)*(?:"|(?=\n)|\Z)'
    r"|'[^'\n]*(?:'|(?=\n)|\Z)"
    r"|#[^\n]*"
    r"|[\[\]{}\n]",
    re.DOTALL,
)


def nesting_error(text: str) -> tuple[int, int] | None:
    """The (line, column) where arrays or inline tables first nest deeper than MAX_NESTING."""
    depth = 0
    line = 1
    line_start = 0
    for match in _NESTING_TOKEN_RE.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
            line_start = match.end()
        elif token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line, match.start() - line_start + 1
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif "\n" in token:  # a multi-line string
            line += token.count("\n")
            line_start = match.start() + token.rindex("\n") + 1
    return None


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text`` read from ``where`` (a path as the user should see it)."""
    if position := nesting_error(text):
        line, column = position
        raise ConfigError(
            f"{where}:{line}:{column}: invalid TOML: arrays or inline tables nested more than"
            f" {MAX_NESTING} levels deep"
        )
    try:
        return tomllib.loads(text)
    except RecursionError:  # the scan above keeps this from happening; never a traceback anyway
        raise ConfigError(
            f"{where}: invalid TOML: arrays or inline tables nested too deeply"
        ) from None
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
