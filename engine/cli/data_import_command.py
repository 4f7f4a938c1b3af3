"""``stom data import FILE …``: users' tick files into the tick store (``docs/data.md``).

Each input is all or nothing: a bad row is named (file, row, column, value) and nothing of that
input is written; importing the same input again adds nothing. Exit 0 when every input was
imported (or already was), 2 on bad input or usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.config.settings import Settings

FORMATS = ("auto", "csv", "parquet", "binance-dump", "stom")


def add_import_parser(data_sub: Any, common: argparse.ArgumentParser) -> None:
    parser = data_sub.add_parser(
        "import",
        parents=[common],
        help="import tick files: CSV/Parquet, Binance dumps, STOM databases",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="default: by extension")
    parser.add_argument("--venue", help="UPBIT, BINANCE, KRX (the instrument's venue)")
    parser.add_argument("--instrument", help="the venue's symbol, e.g. KRW-BTC, BTCUSDT, 005930")
    parser.add_argument("--columns", help="field=column,… e.g. ts=time,price=px,size=qty")
    parser.add_argument("--tz", default="UTC", help="zone of naive date-times (default UTC)")
    parser.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    parser.add_argument("--store", type=Path, help="tick store root (default: [recorder] dir)")
    parser.add_argument("--price-precision", type=int, help="decimals of prices (default: data)")
    parser.add_argument("--size-precision", type=int, help="decimals of sizes (default: data)")
    parser.add_argument("--tick-size", help="price step (default: one unit of the precision)")
    parser.add_argument("--lot-size", help="size step (default: one unit of the precision)")
    parser.add_argument("--fee", help="maker and taker fee as a fraction (default: venue's)")
    parser.add_argument("--min-notional", help="smallest order value in the quote currency")
    parser.add_argument(
        "--segment",
        help="KRX segment: KOSPI, KOSDAQ, KONEX, ETF, ETN, ELW (STOM DBs: CODE=SEG,… overrides "
        "the one told by name)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run_import)


def _format_of(path: Path, given: str) -> str:
    if given != "auto":
        return given
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".zip":
        return "binance-dump"
    if suffix in (".db", ".sqlite", ".sqlite3"):
        return "stom"
    return "csv"


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    from engine.importers.instruments import RuleOptions
    from engine.recorder import recording_root

    for path in args.files:
        if not path.is_file():
            print(f"stom data import: {path}: no such file", file=sys.stderr)
            return 2
    job = _Job(
        args=args,
        root=args.store or recording_root(settings),
        rules=RuleOptions(
            price_precision=args.price_precision,
            size_precision=args.size_precision,
            tick_size=args.tick_size,
            lot_size=args.lot_size,
            fee=args.fee,
            min_notional=args.min_notional,
            segment=args.segment if args.segment and "=" not in args.segment else None,
        ),
    )
    with _progress(quiet=args.json) as progress:
        job.progress = progress
        return job.run()


def _progress(*, quiet: bool) -> Any:
    """Rows read so far and their rate, on stderr (stdout keeps the summary or the JSON)."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        MofNCompleteColumn(),
        TextColumn("rows, {task.speed} rows/s"),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )


class _Job:
    """One ``stom data import`` call: its inputs in order, stopping at the first bad one."""

    def __init__(self, args: argparse.Namespace, root: Path, rules: Any) -> None:
        self.args = args
        self.root = root
        self.rules = rules
        self.progress: Any = None
        self.summaries: list[dict[str, Any]] = []

    def run(self) -> int:
        from engine.importers.values import ImportProblem

        args = self.args
        dumps = [p for p in args.files if _format_of(p, args.format) == "binance-dump"]
        merged = dumps if len(dumps) > 1 else []
        try:
            if merged:
                from engine.importers.binance_dump import import_binance_dumps

                self.summaries.extend(
                    import_binance_dumps(
                        merged, self.root, symbol=args.instrument, rules=self.rules
                    )
                )
            for path in args.files:
                if path not in merged:
                    self.summaries.extend(self._one(path))
        except ImportProblem as exc:
            print(f"stom data import: {exc} (nothing of this file was written)", file=sys.stderr)
            _print(self.summaries, self.root, args.json)
            return 2
        _print(self.summaries, self.root, args.json)
        return 0

    def _advance(self, label: str, total: int | None = None) -> Any:
        task = self.progress.add_task(label, total=total)
        return lambda rows: self.progress.advance(task, rows)

    def _one(self, path: Path) -> list[dict[str, Any]]:
        from engine.importers.values import ImportProblem

        args, fmt = self.args, _format_of(path, self.args.format)
        if fmt == "binance-dump":
            from engine.importers.binance_dump import import_binance_dump

            return import_binance_dump(path, self.root, symbol=args.instrument, rules=self.rules)
        if fmt == "stom":
            from engine.importers.stom_db import import_stom_database

            return import_stom_database(
                path,
                self.root,
                venue=args.venue,
                codes=args.instrument,
                progress=lambda total: self._advance(f"{path.name}", total),
                segments=_segments(args.segment),
            )
        if not args.venue or not args.instrument:
            raise ImportProblem(f"{path}: a {fmt} file needs --venue and --instrument")
        from engine.importers.summary import summary_row
        from engine.importers.tabular import TabularImport, parse_column_map

        job = TabularImport(
            path=path,
            root=self.root,
            venue=args.venue.upper(),
            symbol=args.instrument,
            zone=_zone(args.tz),
            columns=parse_column_map(args.columns),
            rules=self.rules,
            header=not args.no_header,
            progress=self._advance(path.name),
        )
        result = job.run()
        return [summary_row(path, result, job.builder, job.layout.ignored if job.layout else [])]


def _segments(text: str | None) -> dict[str, str]:
    """``CODE=SEG,…`` for STOM databases (a bare segment applies to CSV/Parquet only)."""
    from engine.importers.values import ImportProblem

    if not text or "=" not in text:
        return {}
    pairs = {}
    for item in text.split(","):
        code, eq, segment = item.partition("=")
        if not eq or not code.strip() or not segment.strip():
            raise ImportProblem(f"--segment {item!r}: expected CODE=SEGMENT, e.g. 069500=ETF")
        pairs[code.strip()] = segment.strip().upper()
    return pairs


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from engine.importers.values import ImportProblem

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ImportProblem(f"--tz {name!r} is not a known time zone (e.g. Asia/Seoul)") from None
    return name


def _print(rows: list[dict[str, Any]], root: Path, as_json: bool) -> None:
    if as_json:
        import json

        print(json.dumps({"store": str(root), "imported": rows}, indent=2))
        return
    for row in rows:
        if row["already_imported"]:
            print(f"{row['file']}: {row['instrument']} already imported (nothing added)")
            continue
        days = row["days"]
        span = f"{days[0]} .. {days[-1]}" if days else "-"
        print(
            f"{row['file']}: {row['instrument']}: {row['rows']:,} rows -> {row['events']:,} "
            f"events ({row['trades']:,} trades, {row['book_snapshots']:,} book snapshots), "
            f"{len(days)} days {span}"
        )
        if row.get("segment"):
            print(f"  KRX segment {row['segment']} (its tick grid and sell tax)")
        if row["inferred_sides"]:
            print(
                f"  aggressor side inferred for {row['inferred_sides']:,} trades (no side column)"
            )
        if row.get("duplicates_dropped"):
            print(f"  duplicate rows dropped (same index): {row['duplicates_dropped']:,}")
        if row["ignored_columns"]:
            print(f"  ignored columns: {', '.join(row['ignored_columns'])}")
        if not row["book_snapshots"]:
            print(
                "  no quotes or book: a backtest on these days stops (the fill model needs a book)"
            )
