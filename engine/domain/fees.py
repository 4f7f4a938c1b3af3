"""Fees, exactly.

A trade's notional is ``price_raw * quantity_raw``: an exact integer at the *notional scale*
``price_precision + size_precision`` (KRW-BTC at precisions 0 and 8 counts notional in 1e-8 KRW).
Fees are charged on that notional at the venue's rate and rounded **up** to one unit of the
notional scale, so STOM never shows a fee smaller than the venue will charge, and cash, fees and
PnL reconcile to the unit.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class SellTax:
    """A transaction tax the seller pays on the proceeds (KRX's securities transaction tax), whose
    rate changes by trade date.

    Each period has one or more components (KOSPI: the securities transaction tax and the rural
    special tax), each truncated to whole units of the quote currency on its own, the way the
    brokers withhold them (원 미만 절사). Where the rates come from is said where a schedule is
    built (:mod:`engine.venues.kiwoom.rules`).
    """

    __slots__ = ("periods",)

    def __init__(self, periods: Sequence[tuple[int, Sequence[Decimal]]]) -> None:
        """``periods``: ``(first trade time in ns, component rates)``, in any order."""
        if not periods:
            raise ValueError("a sell tax needs at least one period")
        self.periods: tuple[tuple[int, tuple[FeeRate, ...]], ...] = tuple(
            sorted((start, tuple(FeeRate(rate) for rate in rates)) for start, rates in periods)
        )

    @classmethod
    def flat(cls, rate: Decimal | str) -> SellTax:
        """One rate for every date (a configured override)."""
        return cls([(0, [Decimal(rate)])])

    def rates_at(self, ts_ns: int) -> tuple[FeeRate, ...]:
        """The component rates in force at ``ts_ns`` (none before the first period)."""
        rates: tuple[FeeRate, ...] = ()
        for start, period_rates in self.periods:
            if start > ts_ns:
                break
            rates = period_rates
        return rates

    def rate_at(self, ts_ns: int) -> Decimal:
        """The total rate in force at ``ts_ns``."""
        return sum((rate.rate for rate in self.rates_at(ts_ns)), Decimal(0))

    def tax_raw(self, notional_raw: int, ts_ns: int, scale: int) -> int:
        """The tax on selling ``notional_raw`` (raw at notional scale ``scale``) at ``ts_ns``,
        each component truncated to a whole unit of the quote currency."""
        unit = 10**scale
        total = 0
        for rate in self.rates_at(ts_ns):
            exact = abs(notional_raw) * rate.numerator // rate.denominator
            total += exact // unit * unit
        return total

    def to_text(self) -> list[tuple[int, list[str]]]:
        """The schedule as plain values (for instrument files)."""
        return [(start, [str(rate.rate) for rate in rates]) for start, rates in self.periods]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SellTax) and self.to_text() == other.to_text()

    def __hash__(self) -> int:
        return hash(repr(self.to_text()))

    def __repr__(self) -> str:
        return f"SellTax({self.to_text()!r})"
