"""A DataTable of keyed rows updated in place, whose column set follows the pane's width.

Rows keep their key (an order id, an instrument id) for life: an update changes only the cells
whose text or style changed, new rows are added, rows gone from the snapshot are removed, and
the row order follows the snapshot without rebuilding. The cursor stays on the same *row key*
through all of it, so a new order arriving never moves the selection onto another order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from stom_tui.widgets.render_caches import bound_render_caches

CELL_PADDING = 1


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its key, header, width, and rank (1 is always shown; higher drop first)."""

    key: str
    label: str
    width: int
    rank: int
    justify: JustifyMethod = "right"
    flexible: bool = False
    """Takes the room left over (at least ``width``, at most ``MAX_FLEXIBLE_WIDTH``)."""


MAX_FLEXIBLE_WIDTH = 48


def fit_columns(columns: Sequence[Column], width: int) -> tuple[tuple[str, ...], int]:
    """The keys of the columns that fit ``width`` cells (by rank, in display order), and the
    width given to the flexible column (0 if it is left out)."""
    padded = {column.key: column.width + 2 * CELL_PADDING for column in columns}
    keys: set[str] = set()
    used = 0
    flexible: Column | None = None
    for column in sorted(columns, key=lambda c: c.rank):
        if column.flexible:
            flexible = column
            continue
        if column.rank == 1 or used + padded[column.key] <= width:
            keys.add(column.key)
            used += padded[column.key]
    flexible_width = 0
    if flexible is not None:
        room = min(width - used - 2 * CELL_PADDING, MAX_FLEXIBLE_WIDTH)
        if room >= flexible.width:
            keys.add(flexible.key)
            flexible_width = room
    return tuple(column.key for column in columns if column.key in keys), flexible_width


class LiveTable(DataTable[Text]):
    """Subclasses set ``COLUMNS`` and feed :meth:`set_rows` with cells by column key."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=True,
            cell_padding=CELL_PADDING,
        )
        bound_render_caches(self)  # they grew by tens of MB at full rate (render_caches.py)
        self._live_cells: dict[str, dict[str, Text]] = {}
        self._live_order: list[str] = []
        self._live_layout: tuple[tuple[str, ...], int] = fit_columns(self.COLUMNS, 0)

    # --- public -------------------------------------------------------------------------------

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._live_order)

    @property
    def column_keys(self) -> tuple[str, ...]:
        """The columns shown at the current width."""
        return self._live_layout[0]

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor."""
        if not self._live_order or not 0 <= self.cursor_row < self.row_count:
            return None
        try:
            cell_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return cell_key.row_key.value

    def cell_text(self, row_key: str, column_key: str) -> str:
        """The plain text of a cell, shown or not (for tests and the app)."""
        return self._live_cells[row_key][column_key].plain

    def select_key(self, row_key: str) -> bool:
        if row_key not in self._live_order:
            return False
        self.move_cursor(row=self.get_row_index(row_key))
        return True

    def set_rows(self, rows: Iterable[tuple[str, dict[str, Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells by column), in that order."""
        highlighted = self.highlighted_key
        wanted: dict[str, dict[str, Text]] = dict(rows)
        with self.app.batch_update():
            for key in [key for key in self._live_order if key not in wanted]:
                self._live_order.remove(key)
                del self._live_cells[key]
                if self.columns:
                    self.remove_row(key)
            for key, cells in wanted.items():
                if key in self._live_cells:
                    self._update_row(key, cells)
                else:
                    self._live_cells[key] = cells
                    self._live_order.append(key)
                    if self.columns:
                        self.add_row(*self._visible(cells), key=key)
            self._reorder(list(wanted))
            if highlighted is not None and highlighted in self._live_cells:
                self.select_key(highlighted)

    # --- rows ---------------------------------------------------------------------------------

    def _visible(self, cells: dict[str, Text]) -> list[Text]:
        return [cells[key] for key in self.column_keys]

    def _update_row(self, key: str, cells: dict[str, Text]) -> None:
        old = self._live_cells[key]
        shown = set(self.column_keys)
        for column_key, cell in cells.items():
            previous = old.get(column_key)
            if previous is not None and _same(previous, cell):
                continue
            old[column_key] = cell
            if column_key in shown and self.columns:
                self.update_cell(key, column_key, cell)

    def _reorder(self, order: list[str]) -> None:
        if order == self._live_order:
            return
        self._live_order = order
        if not self.columns or not self.column_keys:
            return
        # DataTable sorts on cell values; rank each row by the identity of its first cell,
        # which is the very object this table stored for that row.
        first = self.column_keys[0]
        rank = {id(self._live_cells[key][first]): index for index, key in enumerate(order)}
        self.sort(first, key=lambda cell: rank.get(id(cell), len(rank)))

    # --- layout -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self, event: Resize) -> None:
        layout = fit_columns(self.COLUMNS, self.scrollable_content_region.width)
        if layout != self._live_layout:
            self._live_layout = layout
            self._rebuild()

    def _rebuild(self) -> None:
        highlighted = self.highlighted_key
        self.clear(columns=True)
        keys, flexible_width = self._live_layout
        for column in self.COLUMNS:
            if column.key in keys:
                width = flexible_width if column.flexible else column.width
                label = Text(column.label, justify=column.justify)
                self.add_column(label, width=width, key=column.key)
        for key in self._live_order:
            self.add_row(*self._visible(self._live_cells[key]), key=key)
        if highlighted is not None:
            self.select_key(highlighted)


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans
