"""The order book ladder of the selected instrument: asks above, the spread, bids below."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.protocol.payloads import BookSnapshot, InstrumentInfo
from stom_tui.ladder import Ladder, LadderRow, Spread, build_ladder, levels_for_height

_EIGHTHS = " ▏▎▍▌▋▊▉"
_GAP = 2
"""Spaces between columns."""
_MIN_BAR = 6
"""Below this much room for bars, the cumulative total column is left out."""


class OrderBookPane(Widget):
    """A price ladder sized to the pane: ``(height - header - 1) // 2`` levels a side.

    Each row shows price, size and cumulative size (when there is room) and a bar whose length
    is the size relative to the largest size visible on either side.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "order-book--header",
        "order-book--ask",
        "order-book--bid",
        "order-book--ask-bar",
        "order-book--bid-bar",
        "order-book--size",
        "order-book--spread",
        "order-book--muted",
    }

    DEFAULT_CSS = """
    OrderBookPane {
        min-width: 28;
        min-height: 5;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Order book"
        self.instrument_id: str | None = None
        self._info: InstrumentInfo | None = None
        self._book: BookSnapshot | None = None

    @property
    def book(self) -> BookSnapshot | None:
        return self._book

    @property
    def levels(self) -> int:
        """Levels a side that fit the pane's current height."""
        return levels_for_height(self.content_size.height)

    def show_instrument(self, instrument_id: str, info: InstrumentInfo | None) -> None:
        """Follow another instrument; its book appears when it arrives."""
        if instrument_id != self.instrument_id:
            self._book = None
        self.instrument_id = instrument_id
        self._info = info
        self.border_title = f"Order book · {instrument_id}"
        self.border_subtitle = ""
        self.refresh()

    def update_book(self, book: BookSnapshot) -> None:
        if book.id != self.instrument_id:
            return
        self._book = book
        self.border_subtitle = f"{len(book.bids)}×{len(book.asks)} · #{book.seq}"
        self.refresh()

    def render(self) -> Text:
        width = self.content_size.width
        if self._book is None:
            message = "waiting for the order book…" if self.instrument_id else "no instrument"
            return Text(message, style=self._style("muted"), justify="center", end="")
        ladder = build_ladder(self._book, self.levels, self._info)
        return self._render_ladder(ladder, width)

    def _render_ladder(self, ladder: Ladder, width: int) -> Text:
        levels = self.levels
        rows = ladder.asks + ladder.bids
        price_w = max([len(row.price) for row in rows] + [len("Price")])
        size_w = max([len(row.size) for row in rows] + [len("Size")])
        total_w = max([len(row.total) for row in rows] + [len("Total")])
        with_total = width - price_w - size_w - total_w - 3 * _GAP >= _MIN_BAR
        used = price_w + _GAP + size_w + ((_GAP + total_w) if with_total else 0)
        bar_w = max(0, width - used)
        widths = (price_w, size_w, total_w if with_total else 0, bar_w)

        lines = [self._header(widths)]
        padding = levels - len(ladder.asks)
        lines += [Text("")] * padding
        lines += [self._row(row, widths, "ask") for row in ladder.asks]
        lines.append(self._spread_line(ladder.spread, width))
        lines += [self._row(row, widths, "bid") for row in ladder.bids]
        return Text("\n").join(lines)

    def _header(self, widths: tuple[int, int, int, int]) -> Text:
        price_w, size_w, total_w, _ = widths
        cells = [f"{'Price':>{price_w}}", f"{'Size':>{size_w}}"]
        if total_w:
            cells.append(f"{'Total':>{total_w}}")
        return Text((" " * _GAP).join(cells), style=self._style("header"), no_wrap=True)

    def _row(self, row: LadderRow, widths: tuple[int, int, int, int], side: str) -> Text:
        price_w, size_w, total_w, bar_w = widths
        gap = " " * _GAP
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{row.price:>{price_w}}", self._style(side))
        text.append(f"{gap}{row.size:>{size_w}}", self._style("size"))
        if total_w:
            text.append(f"{gap}{row.total:>{total_w}}", self._style("muted"))
        if bar_w:
            text.append(gap)
            text.append(_bar(row.fill, bar_w - _GAP), self._style(f"{side}-bar"))
        return text

    def _spread_line(self, spread: Spread | None, width: int) -> Text:
        if spread is None:
            label = " one side empty "
        elif spread.crossed:
            label = f" crossed {spread.price} "
        else:
            parts = [f"spread {spread.price}"]
            if spread.ticks is not None:
                parts.append(f"{spread.ticks} tick{'s' if spread.ticks != 1 else ''}")
            if spread.bps is not None:
                parts.append(f"{spread.bps} bps")
            label = f" {' · '.join(parts)} "
        return Text(label.center(width, "─"), style=self._style("spread"), no_wrap=True)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"order-book--{name}", partial=True)


def _bar(fill: float, width: int) -> str:
    """A horizontal bar ``fill`` of ``width`` cells long, in eighths of a cell."""
    if width <= 0:
        return ""
    eighths = round(fill * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[rest] if rest else "")
    return bar if bar or fill <= 0 else "▏"
