"""Bounds on everything decoded from the bus, checked before any parser sees the bytes.

A JSON payload is refused (with the limit named) when it is larger than its topic allows or
nests deeper than :data:`MAX_DEPTH`: msgspec recurses on nesting (1,000 levels raise a
``RecursionError``, not a ``DecodeError``), and every decoded byte costs memory and time on the
engine's single loop. Decimal text is checked for digits and exponent before ``Decimal``/``int``
ever see it: ``Decimal("1e1000000")`` is 9 characters, and turning it into an ``int`` is
quadratic (the loop froze for a minute).

Pure (no I/O): the engine and the console both import it.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

MAX_DEPTH: Final = 32
"""Deepest nesting of arrays and objects in any payload (the deepest real one is 5)."""

MAX_COMMAND_BYTES: Final = 64 * 1024
"""Largest command the engine decodes (the largest real one, an optimize run, is < 2 kB)."""

MAX_STATE_BYTES: Final = 16 * 1024 * 1024
"""Largest state payload or reply the console decodes (a backtest result with its curve)."""

MAX_LOG_BYTES: Final = 64 * 1024
"""Largest log line the console decodes (the engine caps messages at :data:`MAX_LOG_TEXT`)."""

MAX_LOG_TEXT: Final = 4000
"""Characters of a log message the engine publishes; longer ones are cut with a marker."""

MAX_REASON: Final = 200
"""Characters of a free-text reason (``kill``'s reason rides in retained ``risk/state``)."""

MAX_NAME: Final = 128
"""Characters of an id, a name or a file name in a command."""

MAX_DECIMAL_TEXT: Final = 40
"""Characters of a decimal number given as text (``"0.00094678"``)."""

MAX_DIGITS: Final = 30
"""Significant digits of a decimal number (money and sizes need at most 28)."""

MAX_EXPONENT: Final = 30
"""Largest exponent magnitude in a decimal number's text (``1e30``)."""

MAX_LIST: Final = 256
"""Items in a list argument (instruments of a backtest)."""

MAX_PARAMS: Final = 64
"""Entries in a parameter object (a strategy's parameters)."""

Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
DecimalText = Annotated[str, msgspec.Meta(max_length=MAX_DECIMAL_TEXT)]
"""A decimal number as text; its digits and exponent are checked by :func:`check_decimal`."""


class LimitExceeded(ValueError):
    """A payload broke one of the limits above; the message names the limit and the value."""


# Strings first (brackets inside them do not nest), then the brackets themselves.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def check_payload(data: bytes | bytearray | str, max_bytes: int) -> None:
    """Raise :class:`LimitExceeded` when ``data`` is too large or nests too deep."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise LimitExceeded(f"payload is {len(raw):,} bytes; the limit is {max_bytes:,}")
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitExceeded(f"payload nests deeper than the limit of {MAX_DEPTH} levels")
        else:
            depth -= 1


# ASCII digits only: ``\d`` takes any Unicode digit, and so would ``Decimal``.
_DECIMAL = re.compile(r"^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$")


def check_decimal(text: str, field: str) -> str:
    """``text`` stripped, if it is a plain decimal number of bounded size; else ValueError.

    Called before any ``Decimal``/``int`` conversion of text from outside (see the module
    docstring). The message names the field, the value (shortened) and the bound.
    """
    value = text.strip()
    shown = value if len(value) <= MAX_DECIMAL_TEXT else value[:MAX_DECIMAL_TEXT] + "…"
    match = _DECIMAL.match(value) if len(value) <= MAX_DECIMAL_TEXT else None
    if match is None or not (match.group(1) or match.group(2)):
        raise ValueError(f"{field} {shown!r} is not a number")
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
    if len(whole.lstrip("0")) + len(fraction) > MAX_DIGITS:
        raise ValueError(f"{field} {shown!r} has more than {MAX_DIGITS} digits")
    if exponent is not None and (len(exponent) > 4 or abs(int(exponent)) > MAX_EXPONENT):
        raise ValueError(f"{field} {shown!r}: exponent beyond ±{MAX_EXPONENT}")
    return value


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut (for text the engine publishes)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
