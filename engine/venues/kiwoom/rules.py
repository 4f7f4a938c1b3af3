"""KRX trading rules for instruments traded through Kiwoom (protocols.md §D).

Tick size by price band (the unified table since 2023-01-25), one-share lots, no minimum notional,
and the ±30 % daily limit around the base price (normally the previous close), with the limit
prices rounded inward onto the tick grid. Kiwoom's ``ka10001`` also states the day's limit prices
(``upl_pric`` / ``lst_pric``); the adapter prefers those when present.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.tick_table import KRX_STOCK_BANDS, TickTable

VENUE = "KRX"
DAILY_LIMIT = Decimal("0.30")
DEFAULT_COMMISSION = Decimal("0.00015")
"""Kiwoom's common online commission (0.015 %); a config value, since accounts differ [U]."""
SELL_TAX = Decimal("0.0020")
"""Securities transaction tax on sale proceeds from 2026-01-01 (KOSPI 0.05 % + 0.15 %, KOSDAQ)."""
KRX_TICKS = TickTable.from_decimal(KRX_STOCK_BANDS, 0)


@dataclass(frozen=True, slots=True)
class PriceLimits:
    """The day's price band of one stock (KRW)."""

    base: int
    lower: int
    upper: int

    def contains(self, price: int) -> bool:
        return self.lower <= price <= self.upper


def daily_limits(base_price: int) -> PriceLimits:
    """±30 % of ``base_price``, rounded inward to the tick grid."""
    upper = KRX_TICKS.round_down(base_price * 13 // 10)
    lower = KRX_TICKS.round_up(-(-base_price * 7 // 10))
    return PriceLimits(base_price, lower, upper)


def krx_instrument(
    symbol: str, name: str, *, commission: Decimal = DEFAULT_COMMISSION
) -> Instrument:
    """``SYMBOL.KRX`` with KRX rules; prices and sizes are whole won and whole shares."""
    return Instrument(
        id=InstrumentId.of(symbol, VENUE),
        name=name,
        kind="stock",
        base_currency=symbol,
        quote_currency="KRW",
        price_precision=0,
        size_precision=0,
        tick_table=KRX_TICKS,
        lot_size_raw=1,
        min_notional=Decimal(0),
        maker_fee=commission,
        taker_fee=commission,
        daily_limit=DAILY_LIMIT,
    )
