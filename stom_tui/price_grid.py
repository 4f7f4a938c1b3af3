"""An instrument's valid prices, as the console computes with them (pure: no Textual).

Prices are raw integers at the instrument's ``price_precision`` on its
:class:`~engine.domain.tick_table.TickTable`, exactly as the order ticket and the engine check
them: a step across a band edge (KRX 1,995 -> 2,000 -> 2,005) uses the tick of the band it lands
in. The price ladder walks this grid; the chart's price axis takes its unit from it.
"""

from __future__ import annotations

from decimal import Decimal

from engine.domain.fixed_point import PrecisionError, floor_raw, from_raw, to_raw
from engine.domain.tick_table import TickTable
from engine.protocol.payloads import InstrumentInfo
from stom_tui.formatting import trim_decimal


class PriceGrid:
    """An instrument's valid prices: raw integers at ``precision`` on a banded tick table."""

    __slots__ = ("precision", "table")

    def __init__(self, table: TickTable, precision: int) -> None:
        self.table = table
        self.precision = precision

    @classmethod
    def from_info(cls, info: InstrumentInfo) -> PriceGrid | None:
        """The grid of ``info``'s tick bands; None when they cannot be read at its precision."""
        try:
            table = TickTable.from_decimal(info.tick_bands, info.price_precision)
        except (ValueError, PrecisionError):
            return None
        return cls(table, info.price_precision)

    def price(self, raw: int) -> Decimal:
        """The exact price of a raw value, without trailing zeros."""
        return trim_decimal(from_raw(raw, self.precision))

    def raw(self, price: Decimal) -> int | None:
        """``price`` as a raw grid price; None when it has too many decimals or is off the grid."""
        try:
            raw = to_raw(price, self.precision)
        except PrecisionError:
            return None
        return raw if self.table.is_on_grid(raw) else None

    def nearest(self, price: Decimal) -> int:
        """The grid price nearest ``price`` (the lower one on a tie)."""
        below = self.table.round_down(floor_raw(price, self.precision))
        above = self.table.step_up(below)
        if price - self.price(below) <= self.price(above) - price:
            return below
        return above

    def step(self, raw: int, steps: int) -> int:
        """``steps`` ticks up (down when negative) from a grid price, across band edges."""
        if steps >= 0:
            return self.table.step_up(raw, steps)
        return self.table.step_down(raw, -steps)

    def column(self, top: int, rows: int) -> list[int]:
        """``rows`` grid prices from ``top`` downwards; fewer when the minimum price is reached."""
        prices: list[int] = []
        price = top
        while len(prices) < rows:
            prices.append(price)
            if price <= self.table.min_price_raw:
                break
            price = self.table.step_down(price)
        return prices

    def touch_centre(self, best_bid: int | None, best_ask: int | None) -> int | None:
        """The grid price between the touch to centre on: the mid rounded down to the grid (the
        best bid when the spread is one tick), one side alone, or None for an empty book."""
        if best_bid is None or best_ask is None:
            return best_bid if best_ask is None else best_ask
        if best_ask <= best_bid:
            return best_bid
        return max(best_bid, self.table.round_down((best_bid + best_ask) // 2))
