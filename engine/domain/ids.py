"""Identifier types. Each identifier is its own type so they cannot be mixed up."""

from __future__ import annotations

import re
from typing import NewType

Venue = NewType("Venue", str)
"""Venue code, upper case: ``SIM``, ``UPBIT``, ``BINANCE``, ``KRX``."""

_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
_VENUE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


class InstrumentId(str):
    """``SYMBOL.VENUE``, e.g. ``KRW-BTC.UPBIT``, ``005930.KRX``, ``KRW-BTC.SIM``.

    The id is safe as one MQTT topic level: no ``/``, ``+``, ``#`` or spaces.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> InstrumentId:
        symbol, dot, venue = value.rpartition(".")
        if not dot or not _SYMBOL_RE.match(symbol) or not _VENUE_RE.match(venue):
            raise ValueError(
                f"instrument id {value!r} is not SYMBOL.VENUE (e.g. 'KRW-BTC.SIM', '005930.KRX')"
            )
        return super().__new__(cls, value)

    @classmethod
    def of(cls, symbol: str, venue: str) -> InstrumentId:
        return cls(f"{symbol}.{venue}")

    @property
    def symbol(self) -> str:
        return self.rpartition(".")[0]

    @property
    def venue(self) -> Venue:
        return Venue(self.rpartition(".")[2])
