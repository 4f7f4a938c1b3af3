"""Axes of the price chart: price levels on the instrument's grid, time marks, a row scale.

Pure (no Textual, no plotting library). Price labels are computed from ``Decimal`` values on the
instrument's tick grid, so an axis reads ``143,005,000``, never ``143005000.00000001``; floats
appear only as cell coordinates on the chart's canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from itertools import pairwise

from engine.domain.fixed_point import from_raw, to_raw
from engine.protocol.payloads import InstrumentInfo
from stom_tui.formatting import decimal_places, format_decimal
from stom_tui.price_grid import PriceGrid

_NICE_FACTORS = (Decimal(1), Decimal(2), Decimal(5))
_TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)
_NS_PER_S = 1_000_000_000
_MAX_PLACES = 8


class AxisUnit:
    """The unit of the price axis: the instrument's tick at a price (its
    :class:`~stom_tui.price_grid.PriceGrid`), or, with no tick table, the finest step among the
    prices shown."""

    def __init__(self, info: InstrumentInfo | None) -> None:
        self.precision = info.price_precision if info is not None else None
        self._grid = PriceGrid.from_info(info) if info is not None else None

    def unit_at(self, price: Decimal, prices: Sequence[Decimal] = ()) -> Decimal:
        """The tick at ``price``; without a tick table, the finest step among ``prices``."""
        grid = self._grid
        if grid is not None and price > 0:
            unit = Decimal(1).scaleb(-grid.precision)
            floored = price.quantize(unit, rounding=ROUND_DOWN)
            return from_raw(grid.table.tick_at(to_raw(floored, grid.precision)), grid.precision)
        places = max((decimal_places(value) for value in prices), default=0)
        if self.precision is not None:
            places = min(places, self.precision)
        return Decimal(1).scaleb(-min(places, _MAX_PLACES))


def nice_step(span: Decimal, unit: Decimal, max_levels: int) -> Decimal:
    """The smallest ``unit × {1, 2, 5} × 10^k`` that cuts ``span`` into at most
    ``max_levels - 1`` steps."""
    intervals = max(max_levels - 1, 1)
    magnitude = Decimal(1)
    while True:
        for factor in _NICE_FACTORS:
            step = unit * factor * magnitude
            if span / step <= intervals:
                return step
        magnitude *= 10


def price_levels(low: Decimal, high: Decimal, unit: Decimal, max_levels: int) -> list[Decimal]:
    """Round prices (multiples of a nice step on the grid) within ``[low, high]``, ascending."""
    if high < low or max_levels < 1 or unit <= 0:
        return []
    step = nice_step(high - low, unit, max_levels)
    level = (low / step).to_integral_value(rounding=ROUND_CEILING) * step
    levels: list[Decimal] = []
    while level <= high:
        levels.append(level)
        level += step
    return levels


def price_label(price: Decimal, unit: Decimal) -> str:
    """A price as the axis shows it: separators, the grid unit's decimals, no float noise."""
    return format_decimal(price, decimal_places(unit))


@dataclass(frozen=True, slots=True)
class PriceScale:
    """Maps prices in ``[low, high]`` to canvas rows ``bottom..top`` (row 0 is the lowest)."""

    low: Decimal
    high: Decimal
    bottom: int
    top: int

    def row(self, price: Decimal) -> float:
        if self.high == self.low:
            return (self.bottom + self.top) / 2
        fraction = float((price - self.low) / (self.high - self.low))
        return self.bottom + fraction * (self.top - self.bottom)

    def cell(self, price: Decimal) -> int:
        """The row a price is drawn in, clamped to the scale's rows."""
        return min(max(round(self.row(price)), self.bottom), self.top)

    def contains(self, price: Decimal) -> bool:
        return self.low <= price <= self.high


def padded_range(low: Decimal, high: Decimal, unit: Decimal) -> tuple[Decimal, Decimal]:
    """A flat range is opened by two grid units each side, so levels and a line show."""
    if high > low:
        return low, high
    return low - 2 * unit, high + 2 * unit


def time_marks(
    points: Sequence[tuple[float, int]], min_gap: float, *, seconds: bool
) -> list[tuple[float, str]]:
    """Labelled x positions: the first point at or after each round time, spaced ``min_gap``.

    ``points`` are (x, ts_ns) in increasing order. The round-time step is the smallest (1 s
    to 12 h) whose marks stay ``min_gap`` columns apart; with too few points to cross a round
    time, the first point is labelled.
    """
    if not points:
        return []
    for step_s in _TIME_STEPS_S:
        step_ns = step_s * _NS_PER_S
        marks = [
            (x, ts_ns)
            for (x, ts_ns), previous in zip(points, (None, *points), strict=False)
            if (
                ts_ns % step_ns == 0
                if previous is None
                else ts_ns // step_ns != previous[1] // step_ns
            )
        ]
        gaps = [later[0] - earlier[0] for earlier, later in pairwise(marks)]
        if marks and all(gap >= min_gap for gap in gaps):
            return [(x, clock_label(ts_ns, seconds=seconds)) for x, ts_ns in marks]
    first_x, first_ts = points[0]
    return [(first_x, clock_label(first_ts, seconds=seconds))]


def clock_label(ts_ns: int, *, seconds: bool) -> str:
    """Local time of day: ``09:31`` or ``09:31:05``."""
    moment = datetime.fromtimestamp(ts_ns // _NS_PER_S).astimezone()
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")


def compact_volume(volume: Decimal) -> str:
    """A volume in at most about five characters: ``0.0123``, ``12.5``, ``4.2K``, ``1.3M``."""
    for threshold, suffix in (
        (Decimal(10) ** 9, "B"),
        (Decimal(10) ** 6, "M"),
        (Decimal(1000), "K"),
    ):
        if volume >= threshold:
            return f"{(volume / threshold).quantize(Decimal('0.1'))}{suffix}"
    if volume >= 100:
        return str(volume.quantize(Decimal(1)))
    if volume >= 1:
        return format_decimal(volume.quantize(Decimal("0.1")))
    return format_decimal(volume.quantize(Decimal("0.0001")))
