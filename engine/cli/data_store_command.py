"""``stom data list`` and ``stom data export``: what the tick store holds, and getting it out.

``list`` reads only file names and Parquet footers (row counts), so it is quick on a big store.
``export`` writes one instrument's events over a range of days to CSV (prices and sizes as exact
decimal text, kinds and sides as words) or Parquet (the store's raw columns).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config.settings import Settings

if TYPE_CHECKING:
    import polars as pl


def add_store_parsers(data_sub: Any, common: argparse.ArgumentParser) -> None:
    listing = data_sub.add_parser(
        "list", parents=[common], help="what the tick store holds: instruments, days, rows, size"
    )
    listing.add_argument("--out", type=Path, help="tick store root (default: [recorder] dir)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=run_list)
    export = data_sub.add_parser(
        "export", parents=[common], help="one instrument's recorded events to CSV or Parquet"
    )
    export.add_argument("instrument", help="instrument id, e.g. KRW-BTC.UPBIT")
    export.add_argument("--from", dest="first", help="first day, YYYY-MM-DD (default: first)")
    export.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: last)")
    export.add_argument("--format", choices=("csv", "parquet"), default="csv")
    export.add_argument("--file", type=Path, required=True, help="file to write")
    export.add_argument("--store", type=Path, help="tick store root (default: [recorder] dir)")
    export.set_defaults(handler=run_export)
    from engine.cli.data_download_command import add_download_parser
    from engine.cli.data_import_command import add_import_parser

    add_download_parser(data_sub, common)
    add_import_parser(data_sub, common)


def _root(settings: Settings, given: Path | None) -> Path:
    from engine.recorder import recording_root

    return given or recording_root(settings)


# --- list ------------------------------------------------------------------------------------


def store_summary(root: Path) -> list[dict[str, Any]]:
    """One row per instrument: venue, instrument, first and last day, days, rows, bytes."""
    import polars as pl  # on use: `stom` starts without it

    from engine.storage.part_reading import scan_parts
    from engine.storage.tick_store import TickStore

    store = TickStore(root)
    rows = []
    for instrument_id in store.instrument_ids():
        days = store.days(instrument_id)
        paths = [part.path for day in days for part in store.parts(instrument_id, day)]
        count = scan_parts(paths, lambda scan: scan.select(pl.len())) if paths else 0
        rows.append(
            {
                "venue": instrument_id.rpartition(".")[2],
                "instrument": instrument_id,
                "first_day": days[0].isoformat() if days else None,
                "last_day": days[-1].isoformat() if days else None,
                "days": len(days),
                "rows": int(count),
                "bytes": sum(path.stat().st_size for path in paths),
            }
        )
    return rows


def run_list(settings: Settings, args: argparse.Namespace) -> int:
    root = _root(settings, args.out)
    rows = store_summary(root)
    if args.json:
        import json

        print(json.dumps({"root": str(root), "instruments": rows}, indent=2))
        return 0
    if not rows:
        print(f"nothing recorded under {root} (see stom data record, stom data sample)")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tick store {root}")
    for column in ("venue", "instrument", "days", "from", "to", "rows", "size"):
        table.add_column(column, justify="right" if column in ("days", "rows", "size") else "left")
    for row in rows:
        table.add_row(
            row["venue"],
            row["instrument"],
            str(row["days"]),
            row["first_day"] or "-",
            row["last_day"] or "-",
            f"{row['rows']:,}",
            _size(row["bytes"]),
        )
    Console().print(table)
    return 0


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


# --- export ----------------------------------------------------------------------------------


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    import polars as pl  # on use: `stom` starts without it

    from engine.storage.tick_store import TickStore

    store = TickStore(_root(settings, args.store))
    if args.instrument not in store.instrument_ids():
        known = ", ".join(store.instrument_ids()) or "none"
        print(
            f"stom data export: {args.instrument} is not in {store.root} (recorded: {known})",
            file=sys.stderr,
        )
        return 2
    try:
        first = date.fromisoformat(args.first) if args.first else None
        last = date.fromisoformat(args.last) if args.last else None
    except ValueError as exc:
        print(f"stom data export: --from/--to: {exc} (expected YYYY-MM-DD)", file=sys.stderr)
        return 2
    days = [
        day
        for day in store.days(args.instrument)
        if (first is None or day >= first) and (last is None or day <= last)
    ]
    frames = []
    has_book = False
    for day in days:
        frame = store.read_day(args.instrument, day, has_book=has_book)
        if frame.height:
            frames.append(frame)
            has_book = True
    if not frames:
        print(f"stom data export: no events of {args.instrument} in that range", file=sys.stderr)
        return 2
    frame = pl.concat(frames, how="vertical")
    if args.format == "csv":
        instrument = store.instrument(args.instrument)
        _readable(frame, instrument.price_precision, instrument.size_precision).write_csv(args.file)
    else:
        frame.write_parquet(args.file)
    print(f"wrote {frame.height:,} events of {args.instrument} ({len(days)} days) to {args.file}")
    return 0


def _readable(frame: pl.DataFrame, price_precision: int, size_precision: int) -> pl.DataFrame:
    """Raw integers as exact decimal text; kinds and sides as words."""
    import polars as pl  # on use: `stom` starts without it

    return frame.select(
        "ts_event",
        "ts_init",
        pl.col("kind").replace_strict({0: "book", 1: "trade", 2: "clear"}, return_dtype=pl.Utf8),
        pl.col("side").replace_strict({0: "bid", 1: "ask"}, return_dtype=pl.Utf8),
        _decimal("price", price_precision),
        _decimal("size", size_precision),
        "snapshot",
    )


def _decimal(name: str, precision: int) -> pl.Expr:
    import polars as pl  # on use: `stom` starts without it

    column = pl.col(name)
    if precision == 0:
        return column.cast(pl.Utf8).alias(name)
    scale = 10**precision
    whole = (column // scale).cast(pl.Utf8)
    fraction = (column % scale).cast(pl.Utf8).str.zfill(precision)
    return (whole + "." + fraction).alias(name)
