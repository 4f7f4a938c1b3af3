"""Binance's public data dumps (the monthly/daily ``.zip`` files of trades, aggTrades and
bookTicker), in the layouts Binance publishes, with or without the header row:

==============  ===========================================================================
trades          id, price, qty, quote_qty, time, is_buyer_maker[, is_best_match]
aggTrades       agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
                is_buyer_maker[, is_best_match]
bookTicker      update_id, best_bid_price, best_bid_qty, best_ask_price, best_ask_qty,
                transaction_time, event_time
==============  ===========================================================================

Spot files carry no header and, from 2025-01-01, microsecond times; USD-M futures files carry a
header and millisecond times: both are read (the time unit is told by magnitude). The kind and
the symbol come from the member's name (``BTCUSDT-aggTrades-2026-11.csv``). ``is_buyer_maker``
true means the seller was the aggressor. A bookTicker file alone gives quotes (a book of one
level a side); trades alone give no book, and a backtest on them stops with that reason. A
trades (or aggTrades) dump and a bookTicker dump of the same symbol given in one command are
merged into one stream in time order (a quote before a trade at the same time), as the live
feed delivers them: quotes become book events between trades. The merge holds both files'
rows in memory (a day of BTCUSDT is a few hundred MB); import monthly dumps day by day.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl

from engine.importers.instruments import RuleOptions
from engine.importers.summary import summary_row
from engine.importers.tabular import TabularImport
from engine.importers.values import ImportProblem, Where, timestamp_column

__all__ = ["LAYOUTS", "import_binance_dump", "import_binance_dumps"]

LAYOUTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "trades": (
        ["id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"],
        {"ts": "time", "price": "price", "size": "qty", "is_buyer_maker": "is_buyer_maker"},
    ),
    "aggTrades": (
        [
            "agg_trade_id",
            "price",
            "quantity",
            "first_trade_id",
            "last_trade_id",
            "transact_time",
            "is_buyer_maker",
            "is_best_match",
        ],
        {
            "ts": "transact_time",
            "price": "price",
            "size": "quantity",
            "is_buyer_maker": "is_buyer_maker",
        },
    ),
    "bookTicker": (
        [
            "update_id",
            "best_bid_price",
            "best_bid_qty",
            "best_ask_price",
            "best_ask_qty",
            "transaction_time",
            "event_time",
        ],
        {
            "ts": "transaction_time",
            "bid_price_1": "best_bid_price",
            "bid_size_1": "best_bid_qty",
            "ask_price_1": "best_ask_price",
            "ask_size_1": "best_ask_qty",
        },
    ),
}
_NAME_RE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>trades|aggTrades|bookTicker)-[\d-]+\.csv$")


def import_binance_dumps(
    paths: list[Path], root: Path, *, symbol: str | None, rules: RuleOptions
) -> list[dict[str, Any]]:
    """Import dumps; a trades and a bookTicker dump of one symbol and date are merged."""
    groups: dict[tuple[str, str], dict[str, Path]] = defaultdict(dict)
    alone = []
    for path in paths:
        match = _NAME_RE.match(Path(path.name).with_suffix(".csv").name)
        if match is None:
            alone.append(path)
            continue
        kind = "quotes" if match["kind"] == "bookTicker" else "trades"
        key = (match["symbol"], path.name.split("-", 2)[2].rsplit(".", 1)[0])
        if kind in groups[key]:
            alone.append(path)
        else:
            groups[key][kind] = path
    summaries = []
    for group in groups.values():
        if len(group) == 2:
            summaries.extend(_import_pair(group["trades"], group["quotes"], root, symbol, rules))
        else:
            alone.extend(group.values())
    for path in alone:
        summaries.extend(import_binance_dump(path, root, symbol=symbol, rules=rules))
    return summaries


class _Dump:
    """One dump extracted: its member name, kind, symbol, CSV path and column names."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        self.member, self.csv = _extract(path, folder)
        self.label = f"{path.name}:{self.member}"
        match = _NAME_RE.match(self.member)
        if match is None:
            raise ImportProblem(
                f"{path}: {self.member!r} is not named like a Binance dump "
                "(SYMBOL-trades|aggTrades|bookTicker-DATE.csv)"
            )
        self.kind = match["kind"]
        self.symbol = match["symbol"]
        names, self.mapping = LAYOUTS[self.kind]
        self.header, width = _first_line(self.csv, self.label)
        self.names: list[str] | None = None
        if self.header is None:
            full = len(names)
            if width not in (full, full - 1):
                raise ImportProblem(
                    f"{self.label}: line 1 has {width} fields; a {self.kind} dump has "
                    f"{full} (spot) or {full - 1} (futures)"
                )
            self.names = names[:width]
        else:
            missing = [c for c in self.mapping.values() if c not in self.header]
            if missing:
                raise ImportProblem(
                    f"{self.label}: the header lacks {', '.join(missing)} for a {self.kind} "
                    f"dump (it has {', '.join(self.header)})"
                )

    def frame(self) -> pl.DataFrame:
        """The whole dump with canonical column names, times in ns."""
        frame = pl.read_csv(
            self.csv, infer_schema=False, has_header=self.header is not None, new_columns=self.names
        )
        renamed = frame.select([pl.col(src).alias(dst) for dst, src in self.mapping.items()])
        ts = timestamp_column(
            renamed["ts"], "UTC", Where(self.label, 1, 1 if self.header else 0), self.mapping["ts"]
        )
        return renamed.with_columns(ts.cast(pl.Utf8).alias("ts"))


def _import_pair(
    trades_path: Path, quotes_path: Path, root: Path, symbol: str | None, rules: RuleOptions
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="stom-import-") as folder:
        trades = _Dump(trades_path, Path(folder))
        quotes = _Dump(quotes_path, Path(folder))
        quote_columns = [c for c in LAYOUTS["bookTicker"][1] if c != "ts"]
        merged = (
            pl.concat(
                [
                    quotes.frame().with_columns(pl.lit(0).alias("_order")),
                    trades.frame().with_columns(pl.lit(1).alias("_order")),
                ],
                how="diagonal",
            )
            .with_columns(pl.col("ts").cast(pl.Int64))
            .sort(["ts", "_order"], maintain_order=True)
            .with_columns([pl.col(c).forward_fill() for c in quote_columns])
            .drop("_order")
            .with_columns(pl.col("ts").cast(pl.Utf8))
        )
        merged_path = Path(folder) / f"{trades.symbol}-merged.parquet"
        merged.write_parquet(merged_path)
        del merged
        job = TabularImport(
            path=merged_path,
            root=root,
            venue="BINANCE",
            symbol=symbol or trades.symbol,
            columns={
                name: name for name in ("ts", "price", "size", "is_buyer_maker", *quote_columns)
            },
            rules=rules,
            label=f"{trades.label} + {quotes.label}",
            session_parts=(trades_path, quotes_path),
        )
        result = job.run()
        return [summary_row(trades_path, result, job.builder, [])]


def import_binance_dump(
    path: Path, root: Path, *, symbol: str | None, rules: RuleOptions
) -> list[dict[str, Any]]:
    """Import one dump (``.zip`` or its extracted ``.csv``) as ``<symbol>.BINANCE``."""
    with tempfile.TemporaryDirectory(prefix="stom-import-") as folder:
        dump = _Dump(path, Path(folder))
        job = TabularImport(
            path=dump.csv,
            root=root,
            venue="BINANCE",
            symbol=symbol or dump.symbol,
            columns=dict(dump.mapping),
            rules=rules,
            header=dump.header is not None,
            names=dump.names,
            label=dump.label,
            session_parts=(path,),
        )
        result = job.run()
        return [summary_row(path, result, job.builder, job.layout.ignored if job.layout else [])]


def _extract(path: Path, folder: Path) -> tuple[str, Path]:
    if path.suffix.lower() != ".zip":
        return path.name, path
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(members) != 1:
                raise ImportProblem(
                    f"{path}: expected one .csv inside, found {len(members)} "
                    f"({', '.join(archive.namelist()) or 'nothing'})"
                )
            target = folder / Path(members[0]).name
            with archive.open(members[0]) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            return Path(members[0]).name, target
    except zipfile.BadZipFile as exc:
        raise ImportProblem(f"{path}: not a readable zip file ({exc})") from None


def _first_line(path: Path, label: str) -> tuple[list[str] | None, int]:
    """The header's names (None when the first line is data) and the first line's width."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        line = handle.readline().strip()
    if not line:
        raise ImportProblem(f"{label}: empty file")
    fields = [field.strip() for field in line.split(",")]
    if fields[0].isdigit():
        return None, len(fields)
    return fields, len(fields)
