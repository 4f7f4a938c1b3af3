"""Fees, exactly.

A trade's notional is ``price_raw * quantity_raw``: an exact integer at the *notional scale*
``price_precision + size_precision`` (KRW-BTC at precisions 0 and 8 counts notional in 1e-8 KRW).
Fees are charged on that notional at the venue's rate and rounded **up** to one unit of the
notional scale, so STOM never shows a fee smaller than the venue will charge, and cash, fees and
PnL reconcile to the unit.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


class FeeRate:
    """A fee rate as an exact fraction (``Decimal("0.0005")`` is 1/2000)."""

    __slots__ = ("denominator", "numerator", "rate")

    def __init__(self, rate: Decimal | str) -> None:
        self.rate = Decimal(rate)
        if not self.rate.is_finite() or self.rate < 0:
            raise ValueError(f"fee rate {rate!r} must be a non-negative number")
        exact = Fraction(self.rate)
        self.numerator = exact.numerator
        self.denominator = exact.denominator

    def fee_raw(self, notional_raw: int) -> int:
        """The fee on ``notional_raw`` (non-negative), rounded up at the notional scale."""
        return -((-abs(notional_raw) * self.numerator) // self.denominator)

    def __repr__(self) -> str:
        return f"FeeRate({str(self.rate)!r})"


def notional_scale(price_precision: int, size_precision: int) -> int:
    """Decimal places of ``price_raw * quantity_raw``."""
    return price_precision + size_precision
