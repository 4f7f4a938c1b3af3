"""The configuration error and the helpers that make its messages precise.

A :class:`ConfigError` is fatal: the process prints it and exits non-zero before anything starts,
so its text must tell the user where the bad value is, what it is, and what was expected.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

_MAX_SHOWN_CHARS = 120
_MAX_QUOTED_CHARS = 1000
"""Longer strings are cut before quoting: a message is one line, and the password pattern below
costs time in proportion to the text's length for each letter in it (quadratic: a 200 kB string
took 47 s to report)."""
_MAX_SHOWN_DEPTH = 8
"""Arrays and tables nested deeper are shown as ``[…]``."""
# ``scheme://user:password@`` in any shown string: keep the user, hide the password.
_URL_PASSWORD_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*):[^/\s]*@")
# The same URL cut off before its ``@``, at the end of a string shortened for quoting.
_CUT_URL_PASSWORD_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*):[^/@\s]*\Z")


class ConfigError(Exception):
    """Invalid configuration; ``str()`` is a complete message for the user.

    One error may carry several problems (all the bad keys found in one pass), one per line, so the
    user fixes them in one edit instead of one restart per mistake.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        super().__init__("\n".join(self.problems))


def quote(text: str) -> str:
    """A string as a TOML basic string, with any password in a URL replaced by ``***``.

    JSON string escapes are valid TOML escapes, so ``json.dumps`` writes the literal. Text
    longer than ``_MAX_QUOTED_CHARS`` is cut there and marked with ``…`` after the quotes.
    """
    cut = len(text) > _MAX_QUOTED_CHARS
    shown = _URL_PASSWORD_RE.sub(r"\g<head>:***@", text[:_MAX_QUOTED_CHARS])
    if cut:
        shown = _CUT_URL_PASSWORD_RE.sub(r"\g<head>:***", shown)
    return json.dumps(shown, ensure_ascii=False) + ("…" if cut else "")


def toml_literal(value: Any) -> str:
    """How ``value`` would be written in a TOML file, shortened for a one-line message."""
    text = _literal(value, 0)
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 1] + "…"
    return text


def _literal(value: Any, depth: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple | Mapping) and depth >= _MAX_SHOWN_DEPTH:
        return "[…]" if isinstance(value, list | tuple) else "{…}"
    if isinstance(value, list | tuple):
        # Only the first items can be shown in a one-line message anyway.
        return "[" + ", ".join(_literal(item, depth + 1) for item in value[:_MAX_SHOWN_CHARS]) + "]"
    if isinstance(value, Mapping):
        shown = list(value.items())[:_MAX_SHOWN_CHARS]
        items = ", ".join(f"{key} = {_literal(item, depth + 1)}" for key, item in shown)
        return "{ " + items + " }" if items else "{}"
    return repr(value)
