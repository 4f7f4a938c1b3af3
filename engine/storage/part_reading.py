"""Reading the tick store's part files, with a damaged file named.

Polars reports a truncated or overwritten Parquet file as "File out of specification: expected
parquet magic bytes …" with no path, and a scan over a day's parts cannot say which part it was.
Every reader of part files goes through here, so the error a user sees names the file and what
to do about it, and nothing is replayed from a day with a part missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,  # (a BaseException: what a malformed footer can raise)
    OSError,
)


class TickStoreError(ValueError):
    """The store holds something it cannot read as it is: named, never skipped silently.

    A file the reader would pass over (a misnamed part, a stray file, a ``date=`` folder that is
    not a date) would make a day look empty and a backtest "succeed" on fewer events than the
    user put there, so every reader (``data list``, ``backtest``, ``optimize``) stops on it.
    """


def damaged(path: Path, error: BaseException) -> TickStoreError:
    """The error to raise for a part file polars could not read."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return TickStoreError(
        f"{path}: damaged part file, not readable as Parquet ({reason}); restore it from a "
        "backup, or move it out of the tick store to replay the day without it"
    )


def read_part(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """One part file (all its columns, or ``columns``)."""
    try:
        return pl.read_parquet(path, columns=list(columns) if columns is not None else None)
    except READ_ERRORS as error:
        raise damaged(path, error) from None


def part_metadata(path: Path) -> dict[str, str]:
    """The part's Parquet key-value metadata."""
    try:
        return pl.read_parquet_metadata(path)
    except READ_ERRORS as error:
        raise damaged(path, error) from None


def scan_parts(paths: Sequence[Path], query: Callable[[pl.LazyFrame], pl.LazyFrame]) -> int:
    """``query`` over all ``paths`` in one scan, its one value as an int. When the scan fails,
    the parts are read one at a time to name the one that is damaged."""
    try:
        return int(query(pl.scan_parquet(list(paths))).collect().item())
    except READ_ERRORS as error:
        for path in paths:
            read_part(path)  # raises, naming it, at the damaged one
        raise TickStoreError(
            f"the tick store's part files could not be read together ({error}); first: {paths[0]}"
        ) from None
