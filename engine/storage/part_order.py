"""Whether a part file's ``ts_init`` never steps back, kept in the file itself.

A replay streams a day a part at a time only where each instrument's ``ts_init`` never steps
back (:func:`engine.backtest.stream.stream_day`); finding out reads that column of every part
before the first row is replayed. The tick store's writer knows it as it writes: it stores the
answer with the first and last ``ts_init`` in the part's Parquet metadata, over all the rows and
over the rows after the part's book snapshot (what a replay keeps of a part that continues a
session). :func:`part_order` reads it from the file's footer, or from the column where a file
has none (one written before this, or by anything else).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from engine.storage.part_reading import part_metadata, read_part

ORDER_KEY = "stom.ts_init_order"
"""The Parquet key-value metadata key: JSON ``{"all": summary, "live": summary}``, each
``[ordered (0/1), first, last]`` or null when there are no such rows."""

Summary = tuple[bool, int, int] | None
"""``(ts_init never steps back, first, last)`` of some rows; None: no rows."""


def summarize(init: np.ndarray) -> Summary:
    """The summary of ``ts_init`` values in row order."""
    if not len(init):
        return None
    return bool((init[1:] >= init[:-1]).all()), int(init[0]), int(init[-1])


def order_metadata(all_rows: np.ndarray, live_rows: np.ndarray) -> dict[str, str]:
    """The metadata to write with a part: ``ts_init`` of all its rows and of those after its
    snapshot."""
    summaries = {"all": summarize(all_rows), "live": summarize(live_rows)}
    text = {key: None if s is None else [int(s[0]), s[1], s[2]] for key, s in summaries.items()}
    return {ORDER_KEY: json.dumps(text)}


def part_order(path: Path, live_only: bool) -> Summary:
    """The summary of the part's rows (``live_only``: those after its snapshot), from its
    metadata when it has it, else read from its ``ts_init`` column."""
    stored = part_metadata(path).get(ORDER_KEY)
    if stored is not None:
        try:
            value = json.loads(stored)["live" if live_only else "all"]
            return None if value is None else (bool(value[0]), int(value[1]), int(value[2]))
        except (ValueError, KeyError, TypeError, IndexError):
            pass  # (not what the writer stores: the column says)
    frame = read_part(path, ["ts_init", "snapshot"])
    if live_only:
        frame = frame.filter(~pl.col("snapshot"))
    return summarize(frame["ts_init"].to_numpy())
