"""The watchlist: one row per instrument, updated in place as tickers arrive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.console import JustifyMethod
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable

from engine.protocol.payloads import InstrumentInfo, Ticker
from stom_tui.formatting import (
    MISSING,
    format_change_pct,
    format_decimal,
    format_quantity,
    parse_decimal,
)
from stom_tui.widgets.render_caches import bound_render_caches


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    label: str
    width: int
    wide_only: bool = False


_COLUMNS = (
    _Column("instrument", "Instrument", 12),
    _Column("name", "Name", 0),
    _Column("last", "Last", 11),
    _Column("change", "Chg %", 7),
    _Column("bid", "Bid", 11),
    _Column("ask", "Ask", 11),
    _Column("spread", "Spread", 7),
    _Column("volume", "Volume", 13),
    _Column("trades", "Trades", 7),
)
"""Every column in display order; ``name`` takes the room left over (its width here is 0)."""

_ALWAYS = ("instrument", "last", "change")
_OPTIONAL = (("spread",), ("volume",), ("bid", "ask"), ("name",), ("trades",))
"""Extra columns in priority order, each added when the pane has room for it (at 80 columns
the watchlist shares the width with the ladder: instrument, last and change always fit)."""

CELL_PADDING = 1
MIN_NAME_WIDTH = 8
MAX_NAME_WIDTH = 24


def _layout(width: int) -> tuple[tuple[str, ...], int]:
    """The column keys that fit ``width`` cells, and the width of the name column."""
    widths = {column.key: column.width + 2 * CELL_PADDING for column in _COLUMNS}
    keys = set(_ALWAYS)
    used = sum(widths[key] for key in keys)
    name_width = 0
    for group in _OPTIONAL:
        if group == ("name",):
            room = min(width - used - 2 * CELL_PADDING, MAX_NAME_WIDTH)
            if room >= MIN_NAME_WIDTH:
                name_width = room
                keys.add("name")
                used += room + 2 * CELL_PADDING
            continue
        extra = sum(widths[key] for key in group)
        if used + extra <= width:
            keys.update(group)
            used += extra
    return tuple(column.key for column in _COLUMNS if column.key in keys), name_width


class WatchlistPane(DataTable[Text]):
    """Instruments with last price, change, spread and volume; the cursor row is the selection.

    Rows are keyed by instrument id and updated cell by cell, so a ticker flush never rebuilds
    the table. The column set follows the pane's width (bid, ask and trade count when there is
    room, then the instrument name); it is rebuilt only on a resize that changes it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Previous instrument", id="previous_instrument", show=False),
        Binding("down", "cursor_down", "Next instrument", id="next_instrument", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "watchlist--up",
        "watchlist--down",
        "watchlist--flat",
        "watchlist--muted",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id, classes=classes, cursor_type="row", zebra_stripes=True, cell_padding=1
        )
        self.border_title = "Watchlist"
        bound_render_caches(self)  # they grew by tens of MB at full rate (render_caches.py)
        self._order: list[str] = []
        self._names: dict[str, str] = {}
        self._tickers: dict[str, Ticker] = {}
        self._direction: dict[str, int] = {}
        self._layout: tuple[tuple[str, ...], int] = _layout(0)

    # --- public -------------------------------------------------------------------------------

    @property
    def instrument_ids(self) -> list[str]:
        """Instrument ids in row order."""
        return list(self._order)

    @property
    def selected_id(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def ticker(self, instrument_id: str) -> Ticker | None:
        """The latest ticker of ``instrument_id``, if any arrived."""
        return self._tickers.get(instrument_id)

    def set_instruments(self, instruments: Iterable[InstrumentInfo]) -> None:
        """Add a row for each instrument not shown yet (rows are never reordered)."""
        for info in instruments:
            self._names[info.id] = info.name
            if not self._ensure_row(info.id) and "name" in self._column_keys():
                self.update_cell(info.id, "name", self._cell("name", info.id))

    def update_tickers(self, tickers: Iterable[Ticker]) -> None:
        """Update the changed cells of each ticker's row in place."""
        with self.app.batch_update():
            for ticker in tickers:
                previous = self._tickers.get(ticker.id)
                self._tickers[ticker.id] = ticker
                self._track_direction(ticker, previous)
                if not self._ensure_row(ticker.id):
                    self._update_row(ticker, previous)

    def select(self, instrument_id: str) -> bool:
        """Move the cursor to ``instrument_id``; False if it has no row."""
        if instrument_id not in self._order:
            return False
        self.move_cursor(row=self._order.index(instrument_id))
        return True

    # --- rows ---------------------------------------------------------------------------------

    def _ensure_row(self, instrument_id: str) -> bool:
        """Add the instrument's row if missing; True if it was added."""
        if instrument_id in self._order:
            return False
        self._order.append(instrument_id)
        if self.columns:
            self.add_row(*self._cells(instrument_id), key=instrument_id)
        return True

    def _update_row(self, ticker: Ticker, previous: Ticker | None) -> None:
        for key in self._column_keys():
            if key in _FIELD_OF and (previous is None or _changed(key, ticker, previous)):
                self.update_cell(ticker.id, key, self._cell(key, ticker.id))

    def _column_keys(self) -> tuple[str, ...]:
        return self._layout[0]

    def _cells(self, instrument_id: str) -> list[Text]:
        return [self._cell(key, instrument_id) for key in self._column_keys()]

    def _cell(self, key: str, instrument_id: str) -> Text:
        if key == "instrument":
            return Text(instrument_id, no_wrap=True, overflow="ellipsis")
        if key == "name":
            name = self._names.get(instrument_id, "")
            return Text(name, style=self._style("muted"), no_wrap=True, overflow="ellipsis")
        ticker = self._tickers.get(instrument_id)
        if ticker is None:
            return _right(MISSING, self._style("muted"))
        if key == "last":
            direction = self._direction.get(ticker.id, 0)
            style = {1: "up", -1: "down"}.get(direction, "flat")
            return _right(format_decimal(ticker.last), self._style(style))
        if key == "change":
            change = parse_decimal(ticker.change_pct)
            style = "flat" if not change else ("up" if change > 0 else "down")
            return _right(format_change_pct(ticker.change_pct), self._style(style))
        if key == "volume":
            return _right(format_quantity(ticker.volume), self._style("flat"))
        if key == "trades":
            return _right(f"{ticker.trades:,}", self._style("muted"))
        style = "muted" if key == "spread" else "flat"
        return _right(format_decimal(getattr(ticker, _FIELD_OF[key])), self._style(style))

    def _track_direction(self, ticker: Ticker, previous: Ticker | None) -> None:
        # The last price keeps the colour of its latest move until the price moves again.
        new_last = parse_decimal(ticker.last)
        old_last = parse_decimal(previous.last) if previous else None
        if new_last is not None and old_last is not None and new_last != old_last:
            self._direction[ticker.id] = 1 if new_last > old_last else -1

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"watchlist--{name}", partial=True)

    # --- layout -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self, event: Resize) -> None:
        layout = _layout(self.scrollable_content_region.width)
        if layout != self._layout:
            self._layout = layout
            self._rebuild()

    def _rebuild(self) -> None:
        selected = self.selected_id
        self.clear(columns=True)
        keys, name_width = self._layout
        for column in _COLUMNS:
            if column.key in keys:
                justify: JustifyMethod = "left" if column.key in ("instrument", "name") else "right"
                width = name_width if column.key == "name" else column.width
                self.add_column(Text(column.label, justify=justify), width=width, key=column.key)
        for instrument_id in self._order:
            self.add_row(*self._cells(instrument_id), key=instrument_id)
        if selected is not None:
            self.select(selected)


_FIELD_OF: dict[str, str] = {
    "last": "last",
    "change": "change_pct",
    "bid": "bid",
    "ask": "ask",
    "spread": "spread",
    "volume": "volume",
    "trades": "trades",
}
"""Column key -> the ticker field it shows."""


def _changed(column_key: str, ticker: Ticker, previous: Ticker) -> bool:
    if column_key == "last":
        # The colour follows the tick direction, so repaint on any last-price change.
        return ticker.last != previous.last
    field = _FIELD_OF[column_key]
    return bool(getattr(ticker, field) != getattr(previous, field))


def _right(text: str, style: Style) -> Text:
    return Text(text, style=style, justify="right", no_wrap=True)


__all__ = ["WatchlistPane"]
