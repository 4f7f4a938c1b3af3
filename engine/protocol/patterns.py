"""Patterns of command fields (shared by the structs and the error messages that explain them)."""

from __future__ import annotations

from typing import Final

CLIENT_ORDER_ID_PATTERN: Final = r"^[A-Za-z0-9_\-]{1,36}$"
"""A client order id: 1-36 letters, digits, ``_`` or ``-``."""

FILE_NAME_PATTERN: Final = r"^[^/\\\x00]+\.py$"
"""A strategy file: a ``.py`` name with no directory (and no NUL: the OS refuses it)."""
