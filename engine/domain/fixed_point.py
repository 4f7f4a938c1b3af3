"""Exact conversion between scaled integers ("raw" values) and decimal text.

See :mod:`engine.domain` for why prices and sizes are scaled integers.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_FLOOR, Context, Decimal, InvalidOperation

# int ** int is typed Any (a negative exponent gives a float): the table is ints.
_POW10: tuple[int, ...] = tuple(10**n for n in range(19))
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Shifting the decimal point must never round (the default context keeps only 28 digits)."""


class PrecisionError(ValueError):
    """A value has more decimal places than the instrument allows, or is not a number."""


def to_raw(value: Decimal | str | int, precision: int) -> int:
    """``value * 10**precision`` as an int, exactly; raises :class:`PrecisionError` otherwise."""
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise PrecisionError(f"{value!r} is not a number") from None
    if not dec.is_finite():
        raise PrecisionError(f"{value!r} is not a finite number")
    scaled = dec.scaleb(precision, _EXACT)
    if scaled != scaled.to_integral_value():
        raise PrecisionError(f"{value} has more than {precision} decimal places")
    return int(scaled)


def floor_raw(value: Decimal, precision: int) -> int:
    """``value`` in raw units, rounded down (a size or limit that must not be exceeded)."""
    # In the exact context: a value of more than 28 digits at ``precision`` is not rounded first.
    return int(value.scaleb(precision, _EXACT).to_integral_value(rounding=ROUND_FLOOR))


def from_raw(raw: int, precision: int) -> Decimal:
    """The exact decimal value of a raw integer."""
    return Decimal(raw).scaleb(-precision, _EXACT)


def format_raw(raw: int, precision: int) -> str:
    """Decimal text with exactly ``precision`` places (``12345, 2 -> '123.45'``)."""
    if precision == 0:
        return str(raw)
    sign = "-" if raw < 0 else ""
    whole, frac = divmod(abs(raw), _pow10(precision))
    return f"{sign}{whole}.{frac:0{precision}d}"


def raw_to_float(raw: int, precision: int) -> float:
    """For display and charts only (never for arithmetic on money)."""
    return raw / _pow10(precision)


def _pow10(exponent: int) -> int:
    return _POW10[exponent] if exponent < len(_POW10) else int(10**exponent)
