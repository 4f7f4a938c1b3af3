"""Display text for exact decimal strings, percentages, ages and times: the one place numbers
are formatted for the screen.

Prices and sizes arrive as exact decimal strings; they are formatted with ``Decimal`` so what the
screen shows is exactly what the engine sent (floats are for bar widths and sparklines only).
Money follows its currency (:func:`format_amount`: KRW whole won, USDT cents, a coin up to 8
decimals, and never a non-zero amount shown as 0); prices and sizes follow their instrument
(:func:`format_price`, :func:`format_size`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from engine.protocol.payloads import InstrumentInfo

MISSING = "–"
"""Shown where a value is not known (no trade yet, empty book side)."""

_ONE = Decimal(1)


def parse_decimal(text: str | None) -> Decimal | None:
    """The exact value of a payload decimal string, or None when absent or not a number."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def trim_decimal(value: Decimal) -> Decimal:
    """Drop trailing fractional zeros without switching to exponent notation."""
    if value == value.to_integral_value():
        return value.quantize(_ONE)
    return value.normalize()


def format_decimal(value: Decimal | str | None, places: int | None = None) -> str:
    """Thousands separators; ``places`` pads (never rounds) to at least that many decimals."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return MISSING
    number = trim_decimal(number)
    exponent = number.as_tuple().exponent
    current_places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places is not None and places > current_places:
        number = number.quantize(Decimal(1).scaleb(-places))
    return f"{number:,f}"  # fixed point: never "1E-8"


def decimal_places(value: Decimal | str | None) -> int:
    """How many fractional digits ``value`` needs once trailing zeros are dropped."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return 0
    exponent = trim_decimal(number).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def format_quantity(value: str | None, max_places: int = 4) -> str:
    """A volume or size for a summary cell: at most ``max_places`` decimals (rounded)."""
    number = parse_decimal(value)
    if number is None:
        return MISSING
    if decimal_places(number) > max_places:
        number = number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)
    return format_decimal(number)


def format_change_pct(value: str | None) -> str:
    """``"1.234"`` -> ``"+1.23%"`` (the payload's change is already in percent)."""
    number = parse_decimal(value)
    if number is None:
        return MISSING
    rounded = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{rounded:+.2f}%"


def format_age(age_ns: int) -> str:
    """A short age: ``0.1s``, ``12s``, ``4m``, ``2h``."""
    seconds = max(age_ns, 0) / 1e9
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def format_clock(ts_ns: int, *, millis: bool = False) -> str:
    """Local wall-clock time of a nanosecond UTC timestamp: ``09:30:01`` or ``09:30:01.250``."""
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000).astimezone()
    text = moment.strftime("%H:%M:%S")
    if millis:
        text += f".{(ts_ns // 1_000_000) % 1000:03d}"
    return text


def format_money(value: Decimal | str | None, max_places: int = 2, *, signed: bool = False) -> str:
    """Money for a cell: at most ``max_places`` decimals (rounded), ``+`` shown when ``signed``."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return MISSING
    if decimal_places(number) > max_places:
        number = number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)
    if number == 0:
        number = Decimal(0)  # never "-0"
    text = format_decimal(number)
    return f"+{text}" if signed and number > 0 else text


CURRENCY_PLACES: dict[str, int] = {
    "KRW": 0,
    "JPY": 0,
    "USD": 2,
    "EUR": 2,
    "USDT": 2,
    "USDC": 2,
    "FDUSD": 2,
    "BUSD": 2,
    "DAI": 2,
}
"""Decimals shown for money in these currencies (padded: ``12.50 USDT``)."""
COIN_PLACES = 8
"""Any other currency is a coin: up to this many decimals, trailing zeros dropped."""


def currency_places(currency: str) -> int:
    """How many decimals money in ``currency`` shows."""
    return CURRENCY_PLACES.get(currency.upper(), COIN_PLACES)


def format_amount(value: Decimal | str | None, currency: str, *, signed: bool = False) -> str:
    """Money or a balance in ``currency``: ``1,250 KRW``-style whole won, ``12.50`` USDT,
    ``0.001`` BTC. Rounded (half-even) to the currency's decimals, except that a non-zero amount
    is never shown as 0: it keeps the digits it needs (a 0.4 KRW fee reads ``0.4``)."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return MISSING
    places = currency_places(currency)
    rounded = _round(number, places)
    if rounded == 0 and number != 0:
        rounded = _round(number, COIN_PLACES)
        text = format_decimal(rounded if rounded != 0 else number)
    elif currency.upper() in CURRENCY_PLACES:
        text = format_decimal(rounded if rounded != 0 else Decimal(0), places)
    else:
        text = format_decimal(rounded)
    return f"+{text}" if signed and number > 0 else text


def format_price(value: Decimal | str | None, info: InstrumentInfo | None) -> str:
    """A price on ``info``'s grid, padded to its price precision (``43,250.10``); an average
    price with more digits is rounded to it. Without ``info``: exactly as sent."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return MISSING
    if info is None:
        return format_decimal(number)
    return format_decimal(_round(number, info.price_precision), info.price_precision)


def format_size(value: Decimal | str | None, info: InstrumentInfo | None) -> str:
    """A quantity, rounded to ``info``'s size precision, trailing zeros dropped (``0.001``)."""
    number = parse_decimal(value) if isinstance(value, str) or value is None else value
    if number is None:
        return MISSING
    if info is None:
        return format_decimal(number)
    return format_decimal(_round(number, info.size_precision))


def _round(number: Decimal, places: int) -> Decimal:
    if decimal_places(number) <= places:
        return number
    rounded = number.quantize(_ONE.scaleb(-places), rounding=ROUND_HALF_EVEN)
    return rounded if rounded != 0 else Decimal(0)  # never "-0"
