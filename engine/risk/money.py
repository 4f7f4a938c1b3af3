"""Exact money for risk checks, and how amounts appear in denial reasons.

A notional ``price_raw * quantity_raw`` is exact at the instrument's notional scale (see
:mod:`engine.domain.fees`); risk compares it with limits and balances that are ``Decimal`` per
currency. Sums across instruments mix scales, so they run in :data:`EXACT`, a context that never
rounds (the default one keeps only 28 digits, fewer than a 1e-16 KRW notional of 1e9 KRW needs).
Only addition, multiplication, comparison and halving are done in it: a division that does not
terminate would never finish.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_CEILING, Context, Decimal
from fractions import Fraction

from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument

EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
ZERO = Decimal(0)
_HALF = Decimal("0.5")
_TWO_PLACES = Decimal("0.01")


def notional_scale(instrument: Instrument) -> int:
    """Decimal places of ``price_raw * quantity_raw`` for ``instrument``."""
    return instrument.price_precision + instrument.size_precision


def notional(price_raw: int, quantity_raw: int, instrument: Instrument) -> Decimal:
    """``price * |quantity|`` in the quote currency, exactly."""
    return from_raw(price_raw * abs(quantity_raw), notional_scale(instrument))


def half_notional(double_price_raw: int, quantity_raw: int, instrument: Instrument) -> Decimal:
    """Value at a price given doubled (a mid ``bid + ask`` is exact only doubled), exactly."""
    return EXACT.multiply(notional(double_price_raw, quantity_raw, instrument), _HALF)


def add(*amounts: Decimal) -> Decimal:
    """The exact sum of ``amounts``."""
    total = ZERO
    for amount in amounts:
        total = EXACT.add(total, amount)
    return total


def subtract(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    return EXACT.subtract(minuend, subtrahend)


def grouped(value: Decimal) -> str:
    """``5000100`` -> ``5,000,100``; trailing fractional zeros dropped, never an exponent."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1), context=EXACT):,f}"
    return f"{value.normalize(EXACT):,f}"


def money(value: Decimal, currency: str) -> str:
    """An amount as users read it: ``5,000,100 KRW``."""
    return f"{grouped(value)} {currency}"


def price_text(price_raw: int, instrument: Instrument) -> str:
    """A raw price with thousands separators and the instrument's decimal places."""
    return f"{from_raw(price_raw, instrument.price_precision):,f}"


def size_text(quantity_raw: int, instrument: Instrument) -> str:
    """A raw quantity in units of the base currency, without trailing zeros."""
    return grouped(from_raw(quantity_raw, instrument.size_precision))


def percent_above_text(percent: Fraction) -> str:
    """A percentage to two places, rounded up: ``5.001`` reads ``5.01``, never ``5`` when the
    limit it broke is 5."""
    shown = (Decimal(percent.numerator) / Decimal(percent.denominator)).quantize(
        _TWO_PLACES, rounding=ROUND_CEILING
    )
    return grouped(shown)
