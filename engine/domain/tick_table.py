"""Price grids whose tick size depends on the price band (KRX stocks, Upbit KRW market).

All methods take and return raw prices (see :mod:`engine.domain`). A band's lower bound is always
a multiple of the tick of the band below it in the venue tables, so "on the grid" is simply
``price % tick_at(price) == 0``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal

from engine.domain.fixed_point import to_raw


class OffGridError(ValueError):
    """A price is not a valid price on the instrument's grid."""


class TickTable:
    """Tick size by price band, at one price precision."""

    __slots__ = ("_lowers", "_ticks", "bands", "min_price_raw")

    def __init__(self, bands_raw: Sequence[tuple[int, int]]) -> None:
        if not bands_raw:
            raise ValueError("a tick table needs at least one band")
        lowers = [lower for lower, _ in bands_raw]
        if lowers != sorted(set(lowers)):
            raise ValueError("tick bands must have strictly increasing lower bounds")
        for lower, tick in bands_raw:
            if tick <= 0:
                raise ValueError(f"tick {tick} at band {lower} must be positive")
        self.bands: tuple[tuple[int, int], ...] = tuple(bands_raw)
        self._lowers = lowers
        self._ticks = [tick for _, tick in bands_raw]
        # The smallest valid price is one tick of the lowest band above zero.
        first_lower, first_tick = bands_raw[0]
        self.min_price_raw = max(first_lower, first_tick)

    @classmethod
    def from_decimal(cls, bands: Sequence[tuple[str, str]], precision: int) -> TickTable:
        """Build from ``(lower_bound, tick)`` decimal text at ``precision`` decimal places.

        Bands whose tick is finer than the precision are dropped: prices there are not tradable
        at this precision, and :meth:`is_on_grid` says so.
        """
        unit = Decimal(1).scaleb(-precision)
        kept = [(lower, tick) for lower, tick in bands if Decimal(tick) >= unit]
        if not kept:
            raise ValueError(f"no tick band is representable at precision {precision}")
        raw = [(to_raw(lower, precision), to_raw(tick, precision)) for lower, tick in kept]
        # The lowest kept band starts at its bound; everything below it is off the grid.
        return cls(raw)

    @classmethod
    def flat(cls, tick_raw: int) -> TickTable:
        return cls([(0, tick_raw)])

    def tick_at(self, price_raw: int) -> int:
        """The tick size that applies at ``price_raw``."""
        index = bisect_right(self._lowers, price_raw) - 1
        return self._ticks[index if index >= 0 else 0]

    def is_on_grid(self, price_raw: int) -> bool:
        return price_raw >= self.min_price_raw and price_raw % self.tick_at(price_raw) == 0

    def check(self, price_raw: int) -> None:
        if not self.is_on_grid(price_raw):
            raise OffGridError(
                f"price {price_raw} is off the tick grid (tick {self.tick_at(price_raw)} there)"
            )

    def round_down(self, price_raw: int) -> int:
        """The largest grid price ≤ ``price_raw`` (the minimum price if below it)."""
        if price_raw <= self.min_price_raw:
            return self.min_price_raw
        tick = self.tick_at(price_raw)
        return price_raw - price_raw % tick

    def round_up(self, price_raw: int) -> int:
        """The smallest grid price ≥ ``price_raw``."""
        if price_raw <= self.min_price_raw:
            return self.min_price_raw
        down = self.round_down(price_raw)
        return down if down == price_raw else down + self.tick_at(down)

    def step_up(self, price_raw: int, steps: int = 1) -> int:
        """``steps`` ticks above a grid price, crossing bands correctly."""
        price = self.round_down(price_raw)
        for _ in range(steps):
            price += self.tick_at(price)
        return price

    def step_down(self, price_raw: int, steps: int = 1) -> int:
        """``steps`` ticks below a grid price; never below the minimum price."""
        price = self.round_up(price_raw)
        for _ in range(steps):
            if price <= self.min_price_raw:
                return self.min_price_raw
            price = self.round_down(price - 1)
        return price


# KRX equities (KOSPI/KOSDAQ/KONEX), unified table in force since 2023-01-25 (protocols.md §D).
KRX_STOCK_BANDS: tuple[tuple[str, str], ...] = (
    ("0", "1"),
    ("2000", "5"),
    ("5000", "10"),
    ("20000", "50"),
    ("50000", "100"),
    ("200000", "500"),
    ("500000", "1000"),
)

# Upbit KRW market, policy effective 2025-07-31 (protocols.md §A.7). The venue's
# ``orderbook/instruments`` endpoint is authoritative per market; this table is the default.
UPBIT_KRW_BANDS: tuple[tuple[str, str], ...] = (
    ("0", "0.00000001"),
    ("0.00001", "0.0000001"),
    ("0.0001", "0.000001"),
    ("0.001", "0.00001"),
    ("0.01", "0.0001"),
    ("0.1", "0.001"),
    ("1", "0.01"),
    ("10", "0.1"),
    ("100", "1"),
    ("1000", "1"),
    ("5000", "5"),
    ("10000", "10"),
    ("50000", "50"),
    ("100000", "100"),
    ("500000", "500"),
    ("1000000", "1000"),
)
