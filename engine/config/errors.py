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
# ``scheme://user:password@`` in any shown string: keep the user, hide the password.
_URL_PASSWORD_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*):[^/\s]*@")


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

    JSON string escapes are valid TOML escapes, so ``json.dumps`` writes the literal.
    """
    return json.dumps(_URL_PASSWORD_RE.sub(r"\g<head>:***@", text), ensure_ascii=False)


def toml_literal(value: Any) -> str:
    """How ``value`` would be written in a TOML file, shortened for a one-line message."""
    text = _literal(value)
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 1] + "…"
    return text


def _literal(value: Any) -> str:
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
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{key} = {_literal(item)}" for key, item in value.items())
        return "{ " + items + " }" if items else "{}"
    return repr(value)
