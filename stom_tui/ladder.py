"""The order book ladder as display rows: pure, exact, and sized to the room available.

Prices, sizes and cumulative totals stay exact ``Decimal`` values formatted from the payload's
strings; only the bar length (size relative to the largest visible size) is a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from engine.domain.fixed_point import PrecisionError, to_raw
from engine.domain.tick_table import TickTable
from engine.protocol.payloads import BookSnapshot, InstrumentInfo
from stom_tui.formatting import decimal_places, format_decimal, parse_decimal

HEADER_ROWS = 1
"""Rows above the ladder (the column header)."""

_MAX_TICK_STEPS = 10_000
"""Spreads wider than this many ticks are not counted (a broken book, not a market)."""


def levels_for_height(height: int) -> int:
    """Levels a side that fit ``height`` rows: a header, the asks, a spread line, the bids."""
    return max(0, (height - HEADER_ROWS - 1) // 2)


@dataclass(frozen=True, slots=True)
class LadderRow:
    """One price level as display text, plus its share of the largest visible size."""

    price: str
    size: str
    total: str
    fill: float
    """Size / largest visible size, in [0, 1]: the length of the bar."""


@dataclass(frozen=True, slots=True)
class Spread:
    """The gap between best bid and best ask."""

    price: str
    ticks: int | None
    bps: str | None
    crossed: bool


@dataclass(frozen=True, slots=True)
class Ladder:
    """Display rows: ``asks`` top to bottom (best ask last), ``bids`` best first."""

    asks: list[LadderRow]
    bids: list[LadderRow]
    spread: Spread | None


def build_ladder(book: BookSnapshot, levels: int, info: InstrumentInfo | None = None) -> Ladder:
    """The ``levels`` best levels a side of ``book``; ``info`` gives the spread's tick grid."""
    asks = _parse_side(book.asks[:levels])
    bids = _parse_side(book.bids[:levels])
    largest = max((size for _, size in asks + bids), default=Decimal(0))
    size_places = max((decimal_places(size) for _, size in asks + bids), default=0)
    ask_rows = _rows(asks, largest, size_places)
    bid_rows = _rows(bids, largest, size_places)
    spread = None
    if book.asks and book.bids:
        best_bid = parse_decimal(book.bids[0][0])
        best_ask = parse_decimal(book.asks[0][0])
        if best_bid is not None and best_ask is not None:
            spread = _spread(best_bid, best_ask, info)
    return Ladder(asks=list(reversed(ask_rows)), bids=bid_rows, spread=spread)


def _parse_side(levels: Sequence[tuple[str, str]]) -> list[tuple[Decimal, Decimal]]:
    parsed = []
    for price_text, size_text in levels:
        price, size = parse_decimal(price_text), parse_decimal(size_text)
        if price is not None and size is not None:
            parsed.append((price, size))
    return parsed


def _rows(side: list[tuple[Decimal, Decimal]], largest: Decimal, places: int) -> list[LadderRow]:
    rows = []
    total = Decimal(0)
    for price, size in side:
        total += size
        fill = float(size / largest) if largest > 0 else 0.0
        rows.append(
            LadderRow(
                price=format_decimal(price),
                size=format_decimal(size, places),
                total=format_decimal(total, places),
                fill=min(max(fill, 0.0), 1.0),
            )
        )
    return rows


def _spread(best_bid: Decimal, best_ask: Decimal, info: InstrumentInfo | None) -> Spread:
    gap = best_ask - best_bid
    if gap <= 0:
        return Spread(price=format_decimal(gap), ticks=None, bps=None, crossed=True)
    mid = (best_ask + best_bid) / 2
    bps = (gap / mid * 10_000).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return Spread(
        price=format_decimal(gap),
        ticks=_ticks_between(best_bid, best_ask, info),
        bps=f"{bps}",
        crossed=False,
    )


def _ticks_between(low: Decimal, high: Decimal, info: InstrumentInfo | None) -> int | None:
    """Grid steps from ``low`` up to ``high``, crossing tick bands correctly."""
    if info is None or not info.tick_bands:
        return None
    try:
        table = TickTable.from_decimal(info.tick_bands, info.price_precision)
        price = to_raw(low, info.price_precision)
        target = to_raw(high, info.price_precision)
    except (PrecisionError, ValueError):
        return None
    steps = 0
    while price < target and steps < _MAX_TICK_STEPS:
        price = table.step_up(price)
        steps += 1
    return steps if price == target else None
