"""A :class:`~textual.widgets.DataTable` whose rows the user sorts from the keyboard.

``<`` and ``>`` choose the sort column (the header marks it with ▲ or ▼), ``r`` reverses the
order. Rows are given with a sort value per cell (numbers sort as numbers, ``None`` always last),
so a table of formatted text ("+1.20 %", "1,204") still sorts by what the text stands for. Left
and right scroll the columns (a row cursor never hides columns: the widest table stays readable
at 80 columns), home/end jump to the first/last column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

SortValue = float | int | str | None
"""What a cell sorts by (``None``: no value, sorted last whichever the direction)."""


@dataclass(frozen=True, slots=True)
class SortColumn:
    """One column: its header, and whether its values are numbers (right-aligned header)."""

    label: str
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class SortRow:
    """One row: a stable key, the cells shown and the value each cell sorts by."""

    key: str
    cells: Sequence[RenderableType]
    values: Sequence[SortValue]


class SortableTable(DataTable[RenderableType]):
    """A row-cursor table with keyboard sorting (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("less_than_sign", "sort_column(-1)", "Sort ◀", id="table_sort_previous"),
        Binding("greater_than_sign", "sort_column(1)", "Sort ▶", id="table_sort_next"),
        Binding("r", "sort_reverse", "Reverse", id="table_sort_reverse"),
    ]

    class Sorted(Message):
        """The sort column or direction changed (``column`` is an index into the columns)."""

        def __init__(self, table: SortableTable, column: int, reverse: bool) -> None:
            super().__init__()
            self.table = table
            self.column = column
            self.reverse = reverse

    def __init__(
        self,
        columns: Sequence[SortColumn],
        *,
        sort_column: int = 0,
        reverse: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.sort_columns = list(columns)
        self.sort_index = sort_column
        self.reverse = reverse
        self._rows: list[SortRow] = []

    def on_mount(self) -> None:
        self._rebuild()

    @property
    def keys_in_order(self) -> list[str]:
        """The row keys as shown, top first."""
        return [row.key for row in self._sorted()]

    def set_rows(self, rows: Sequence[SortRow]) -> None:
        """Replace the rows (shown in the current sort order; the cursor keeps its row)."""
        self._rows = list(rows)
        self._rebuild()

    def sort_by(self, column: int, *, reverse: bool | None = None) -> None:
        """Sort by ``column`` (an index); ``reverse`` unchanged when not given."""
        self.sort_index = column % len(self.sort_columns)
        if reverse is not None:
            self.reverse = reverse
        self._rebuild()
        self.post_message(self.Sorted(self, self.sort_index, self.reverse))

    def action_sort_column(self, step: int) -> None:
        self.sort_by(self.sort_index + step)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_index, reverse=not self.reverse)

    def _sorted(self) -> list[SortRow]:
        index = self.sort_index
        present = [row for row in self._rows if row.values[index] is not None]
        missing = [row for row in self._rows if row.values[index] is None]
        present.sort(key=lambda row: _order(row.values[index]), reverse=self.reverse)
        return present + missing

    def _rebuild(self) -> None:
        if not self.is_mounted:
            return
        current = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            current = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        scroll_x = self.scroll_x
        self.clear(columns=True)
        for n, column in enumerate(self.sort_columns):
            mark = (" ▼" if self.reverse else " ▲") if n == self.sort_index else ""
            label = Text(column.label + mark, justify="right" if column.numeric else "left")
            self.add_column(label, key=str(n))
        rows = self._sorted()
        for row in rows:
            self.add_row(*row.cells, key=row.key)
        keys = [row.key for row in rows]
        if current in keys:
            self.move_cursor(row=keys.index(current), animate=False, scroll=False)
        self.scroll_x = scroll_x


def _order(value: SortValue) -> tuple[int, float, str]:
    """Numbers before text, each in its own order (the column decides which it holds)."""
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value))
