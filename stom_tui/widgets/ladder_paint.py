"""Drawing the price ladder's rows: the header, then one strip per price, styled by the
widget's component classes (:class:`~stom_tui.widgets.price_ladder.PriceLadder` decides what is
shown; this module only paints it).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from stom_tui.ladder_grid import LadderLayout, LadderRow, LadderWindow

AVERAGE_MARK = "◆"
"""Drawn just left of the price of the row holding the position's average price."""

_PLAIN = Style()
_CELL_STYLES = {
    "own_buy": "own-buy",
    "bid_total": "bid-total",
    "bid": "bid",
    "ask": "ask",
    "ask_total": "ask-total",
    "own_sell": "own-sell",
}


class LadderStyles:
    """The widget's base style and its component styles, looked up once per frame."""

    def __init__(self, base: Style, component: Callable[..., Style]) -> None:
        self.base = base
        self._component = component
        self._cache: dict[str, Style] = {}

    def get(self, name: str) -> Style:
        style = self._cache.get(name)
        if style is None:
            style = self._component(f"price-ladder--{name}", partial=True)
            self._cache[name] = style
        return style

    def message(self, text: str, width: int) -> Strip:
        strip = Strip([Segment(text.center(width), self.base + self.get("muted"))])
        return strip.adjust_cell_length(width, self.base)


def paint(
    rows: list[LadderRow],
    layout: LadderLayout,
    window: LadderWindow,
    average: int | None,
    width: int,
    styles: LadderStyles,
) -> list[Strip]:
    """The header strip, then one strip per row, each ``width`` cells (centred layout)."""
    indent = " " * max(0, (width - layout.width) // 2)
    titles = [f"{title:>{w}}" for title, w in zip(layout.headers, layout.widths, strict=True)]
    header = indent + (" " * layout.gap).join(titles)
    header_strip = Strip([Segment(header, styles.base + styles.get("header"))])
    strips = [header_strip.adjust_cell_length(width, styles.base)]
    for row, cells in zip(rows, layout.cells, strict=True):
        strip = _row(row, cells, layout, indent, window, average, styles)
        strips.append(strip.adjust_cell_length(width, styles.base))
    return strips


def _row(
    row: LadderRow,
    cells: tuple[str, ...],
    layout: LadderLayout,
    indent: str,
    window: LadderWindow,
    average: int | None,
    styles: LadderStyles,
) -> Strip:
    base = styles.base + styles.get("cursor") if row.price == window.cursor else styles.base
    gap = " " * layout.gap
    segments = [Segment(indent, base)]
    for index, (name, cell) in enumerate(zip(layout.columns, cells, strict=True)):
        if index and name == "price" and row.price == average:
            segments.append(Segment(gap[:-1], base))
            segments.append(Segment(AVERAGE_MARK, base + styles.get("average")))
        elif index:
            segments.append(Segment(gap, base))
        style = _cell_style(name, row, cell, window, average, styles)
        segments.append(Segment(cell, base + style))
    return Strip(segments)


def _cell_style(
    name: str,
    row: LadderRow,
    cell: str,
    window: LadderWindow,
    average: int | None,
    styles: LadderStyles,
) -> Style:
    if name == "price":
        if row.price == window.best_bid:
            style = styles.get("best-bid")
        elif row.price == window.best_ask:
            style = styles.get("best-ask")
        elif _inside_spread(row.price, window.best_bid, window.best_ask):
            style = styles.get("inside")
        else:
            style = styles.get("price")
        return style + styles.get("average") if row.price == average else style
    if not cell.strip():
        return _PLAIN
    return styles.get(_CELL_STYLES[name])


def _inside_spread(price: int, best_bid: int | None, best_ask: int | None) -> bool:
    return best_bid is not None and best_ask is not None and best_bid < price < best_ask
