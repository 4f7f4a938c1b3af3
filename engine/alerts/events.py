"""What an alert is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AlertKind = Literal["fill", "rejection", "risk", "engine", "feed"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the trader: its kind (for the rules) and its text."""

    kind: AlertKind
    text: str


def plain(text: str | None) -> str:
    """Exact decimal text without trailing zeros, easier on a phone: ``0.01000000`` -> ``0.01``."""
    if text is None:
        return "-"
    return text.rstrip("0").rstrip(".") if "." in text else text
