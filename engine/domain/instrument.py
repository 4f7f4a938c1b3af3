"""Instruments and their trading rules."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from engine.domain.fees import SellTax
from engine.domain.fixed_point import format_raw
from engine.domain.ids import InstrumentId
from engine.domain.tick_table import TickTable

InstrumentKind = Literal["crypto", "stock"]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument with the venue's rules, in raw units (see :mod:`engine.domain`)."""

    id: InstrumentId
    name: str
    kind: InstrumentKind
    base_currency: str
    quote_currency: str
    price_precision: int
    size_precision: int
    tick_table: TickTable
    lot_size_raw: int
    """Sizes must be multiples of this (1 share for stocks; the venue's step for crypto)."""
    min_notional: Decimal
    """Smallest order value in the quote currency (Upbit KRW: 5,000)."""
    maker_fee: Decimal
    taker_fee: Decimal
    daily_limit: Decimal | None = None
    """Daily price limit as a fraction of the base price (KRX: 0.30), or None."""
    sell_tax: SellTax | None = None
    """Transaction tax a sell pays on its proceeds, by trade date (KRX stocks; ETFs, ETNs and
    ELWs are exempt), on top of the fees; None: no such tax."""

    def format_price(self, price_raw: int) -> str:
        return format_raw(price_raw, self.price_precision)

    def format_size(self, size_raw: int) -> str:
        return format_raw(size_raw, self.size_precision)
