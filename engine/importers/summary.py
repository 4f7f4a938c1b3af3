"""One input's line of ``stom data import``'s summary (also its ``--json`` shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.importers.events import EventBuilder
from engine.importers.staging import StagedResult

__all__ = ["summary_row"]


def summary_row(
    path: Path, result: StagedResult, builder: EventBuilder | None, ignored: list[str]
) -> dict[str, Any]:
    """One input's line of the summary (also the ``--json`` shape)."""
    return {
        "file": str(path),
        "instrument": result.instrument_id,
        "already_imported": result.already_imported,
        "rows": result.rows,
        "events": result.events,
        "trades": builder.trades if builder else 0,
        "book_snapshots": builder.book_snapshots if builder else 0,
        "inferred_sides": builder.inferred_sides if builder else 0,
        "days": [day.isoformat() for day in result.days],
        "ignored_columns": ignored,
    }
