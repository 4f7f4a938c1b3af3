"""Render caches of the live tables, sized to what a table shows.

Textual's DataTable caches rendered cells, rows and lines under keys that include its update
count, so after every update (a ticker flush, an orders snapshot: ten a second at full rate) the
old entries are never hit again, yet they stay until the cache is full. Its defaults (10,000
cells, 1,000 rows, row renderables and lines, per table) let each live table grow by tens of MB
before that: the console grew from 102 to 209 MB in five minutes at full rate (issue 12,
finding 9). A screenful of the current generation, with room for the one before, is enough.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

CELLS = 1024
"""Rendered cells kept: ~40 visible rows x 12 columns, twice."""
ROWS = 128
"""Rendered rows, row renderables and lines kept."""


def bound_render_caches(table: DataTable[Any]) -> None:
    """Shrink ``table``'s render caches (call once, from its ``__init__``)."""
    table._cell_render_cache.maxsize = CELLS
    table._row_render_cache.maxsize = ROWS
    table._row_renderable_cache.maxsize = ROWS
    table._line_cache.maxsize = ROWS
