"""KRX trading rules for instruments traded through Kiwoom (protocols.md §D).

Tick size by price band (the unified stock table since 2023-01-25; ETFs and ETNs keep their own:
1 won under 2,000, else 5; ELWs 5 won), one-share lots, no minimum notional, and the ±30 % daily
limit around the base price (normally the previous close), with the limit prices rounded inward
onto the tick grid. Kiwoom's ``ka10001`` also states the day's limit prices (``upl_pric`` /
``lst_pric``); the adapter prefers those when present. Which of these an instrument is comes from
the venue's stock info (``ka10100``: its market), not from the code.

The seller pays the securities transaction tax on the proceeds, by market and trade date
(:data:`KRX_SELL_TAX`); ETFs, ETNs and ELWs are exempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal

from engine.domain.fees import SellTax
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.tick_table import KRX_STOCK_BANDS, TickTable

VENUE = "KRX"
DAILY_LIMIT = Decimal("0.30")
DEFAULT_COMMISSION = Decimal("0.00015")
"""Kiwoom's common online commission (0.015 %); a config value, since accounts differ [U]."""
KRX_TICKS = TickTable.from_decimal(KRX_STOCK_BANDS, 0)
ETP_TICKS = TickTable.from_decimal((("0", "1"), ("2000", "5")), 0)
"""ETFs and ETNs: 1 won under 2,000 won (since 2023-12-18), 5 won above; the stock bands of
2023-01-25 never applied to them (KRX 유가증권시장 업무규정시행세칙, as announced 2023-10-05)."""
ELW_TICKS = TickTable.flat(5)
"""ELWs: a flat 5 won [U: KRX rule as commonly stated; verify before trading ELWs]."""

STOCK_SEGMENTS = ("KOSPI", "KOSDAQ", "KONEX")
SEGMENTS = (*STOCK_SEGMENTS, "ETF", "ETN", "ELW")
"""What ``ka10100`` says an instrument is (see :func:`segment_of`)."""

_KST = timezone(timedelta(hours=9))


def _kst_ns(day: str) -> int:
    """Midnight KST of ``YYYY-MM-DD`` in ns UTC."""
    return int(datetime.fromisoformat(day).replace(tzinfo=_KST).timestamp()) * 1_000_000_000


def _schedule(rows: list[tuple[str, list[str]]]) -> SellTax:
    return SellTax([(_kst_ns(day), [Decimal(rate) for rate in rates]) for day, rates in rows])


# Securities transaction tax (증권거래세법 시행령 제5조, the "elastic" rates) and, on KOSPI, the
# rural special tax (농어촌특별세, 0.15 %), each on the sale proceeds and truncated to the won.
# Sources: Ministry of Economy and Finance's decrees as reported by brokers' notices (e.g. Hanyang
# Securities, 2024-12-26: 2025 rates) and the 2025 tax revision for 2026 (KOSPI 0.05 % + 0.15 %,
# KOSDAQ 0.20 %); protocols.md §D. Periods start on Jan 1 (KST) by trade date; the law applies
# them by settlement date, so brokers already charge a new year's rate on the last two trading
# days of December: override with [venues.kiwoom] sell_tax where that matters.
KRX_SELL_TAX: dict[str, SellTax] = {
    "KOSPI": _schedule([
        ("2021-01-01", ["0.0008", "0.0015"]),
        ("2023-01-01", ["0.0005", "0.0015"]),
        ("2024-01-01", ["0.0003", "0.0015"]),
        ("2025-01-01", ["0", "0.0015"]),
        ("2026-01-01", ["0.0005", "0.0015"]),
    ]),
    "KOSDAQ": _schedule([
        ("2021-01-01", ["0.0023"]),
        ("2023-01-01", ["0.0020"]),
        ("2024-01-01", ["0.0018"]),
        ("2025-01-01", ["0.0015"]),
        ("2026-01-01", ["0.0020"]),
    ]),
    "KONEX": _schedule([("2019-06-03", ["0.0010"])]),
}  # fmt: skip
"""Sell tax by market; ETFs, ETNs and ELWs pay none (exempt from the securities transaction tax)."""

_MARKET_CODES = {"0": "KOSPI", "10": "KOSDAQ", "50": "KONEX", "8": "ETF", "60": "ETN", "3": "ELW"}
"""``ka10100`` ``marketCode`` values (the ``mrkt_tp`` codes of ``ka10099``) [S]."""
_MARKET_NAMES = {"거래소": "KOSPI", "코스닥": "KOSDAQ", "코넥스": "KONEX"}


def segment_of(stock_info: dict[str, object]) -> str:
    """The market of a ``ka10100`` answer (``KOSPI``, ``KOSDAQ``, ``KONEX``, ``ETF``, ``ETN``,
    ``ELW``), from ``marketCode`` or else ``marketName``; ``KOSPI`` when it says neither."""
    code = str(stock_info.get("marketCode") or "").strip()
    if code in _MARKET_CODES:
        return _MARKET_CODES[code]
    name = str(stock_info.get("marketName") or "").strip()
    upper = name.upper()
    for segment in SEGMENTS:
        if segment in upper:
            return segment
    return _MARKET_NAMES.get(name, "KOSPI")


def sell_tax_for(segment: str, overrides: Mapping[str, str] | None = None) -> SellTax | None:
    """The sell tax of ``segment``: a configured flat rate if ``overrides`` has one, else the
    schedule (None for ETFs, ETNs and ELWs)."""
    if overrides and segment in overrides:
        return SellTax.flat(overrides[segment])
    return KRX_SELL_TAX.get(segment)


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


def ticks_for(segment: str) -> TickTable:
    """The tick grid of an instrument of ``segment``."""
    if segment in ("ETF", "ETN"):
        return ETP_TICKS
    if segment == "ELW":
        return ELW_TICKS
    return KRX_TICKS


def krx_instrument(
    symbol: str,
    name: str,
    *,
    commission: Decimal = DEFAULT_COMMISSION,
    segment: str = "KOSPI",
    sell_tax: SellTax | Literal["schedule"] | None = "schedule",
) -> Instrument:
    """``SYMBOL.KRX`` with KRX rules for its market ``segment`` (tick grid, sell tax: the
    schedule unless given); prices and sizes are whole won and whole shares."""
    return Instrument(
        id=InstrumentId.of(symbol, VENUE),
        name=name,
        kind="stock",
        base_currency=symbol,
        quote_currency="KRW",
        price_precision=0,
        size_precision=0,
        tick_table=ticks_for(segment),
        lot_size_raw=1,
        min_notional=Decimal(0),
        maker_fee=commission,
        taker_fee=commission,
        daily_limit=DAILY_LIMIT,
        sell_tax=sell_tax_for(segment) if sell_tax == "schedule" else sell_tax,
    )
