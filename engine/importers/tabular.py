"""CSV and Parquet tick files: trades, with optional quotes or book levels, columns by name.

Columns are found by name (case-insensitive, with common aliases) or mapped with ``--columns
ts=time,price=px,…``:

========================  ==========================================================
``ts``                    time: epoch s/ms/µs/ns, or ISO date-time (naive: in ``--tz``)
``price``, ``size``       the trade (a row without them is a quote-only row)
``side``                  aggressor: buy/sell, b/s, 1/-1 (absent: inferred)
``is_buyer_maker``        Binance's flag instead of ``side`` (true: a sell aggressor)
``bid``, ``bid_size``     best bid (also ``bid_price_1``, ``bid_size_1``)
``ask``, ``ask_size``     best ask
``bid_price_N`` …         deeper levels, N = 2, 3, … (``ask_price_N``, ``*_size_N``)
========================  ==========================================================

Other columns are ignored and listed in the summary. The file is read in batches (bounded
memory); the first batch decides the layout and, where the venue has no offline rules, the
precisions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID
from engine.importers.events import EventBuilder, level_columns
from engine.importers.instruments import RuleOptions, import_instrument
from engine.importers.staging import ImportSession, StagedResult, content_session
from engine.importers.values import (
    ImportProblem,
    Where,
    decimals_in,
    raw_column,
    side_column,
    timestamp_column,
)

__all__ = ["BATCH_ROWS", "Layout", "TabularImport", "parse_column_map", "resolve_layout"]

BATCH_ROWS = 200_000

_ALIASES = {
    "ts": ("ts", "time", "timestamp", "datetime", "date_time", "ts_event", "transact_time"),
    "price": ("price", "trade_price", "last", "px"),
    "size": ("size", "qty", "quantity", "volume", "trade_volume", "amount_base"),
    "side": ("side", "aggressor", "taker_side", "ask_bid"),
    "is_buyer_maker": ("is_buyer_maker", "isbuyermaker", "buyer_is_maker"),
    "bid_price_1": ("bid", "bid_price", "best_bid_price", "bid_price_1", "bid1"),
    "bid_size_1": ("bid_size", "bid_qty", "best_bid_qty", "bid_size_1", "bid_qty_1"),
    "ask_price_1": ("ask", "ask_price", "best_ask_price", "ask_price_1", "ask1"),
    "ask_size_1": ("ask_size", "ask_qty", "best_ask_qty", "ask_size_1", "ask_qty_1"),
}
_LEVEL_RE = re.compile(r"^(bid|ask)_(price|size)_(\d{1,2})$")


@dataclass
class Layout:
    """Which source column holds each canonical field, and what is ignored."""

    mapping: dict[str, str]
    depth: int
    ignored: list[str]

    @property
    def has_trades(self) -> bool:
        return "price" in self.mapping


def parse_column_map(text: str | None) -> dict[str, str]:
    """``ts=time,price=px`` -> {canonical: source}; names are checked by :func:`resolve_layout`."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        name, eq, source = item.partition("=")
        if not eq or not name.strip() or not source.strip():
            raise ImportProblem(f"--columns {item!r}: expected NAME=COLUMN, e.g. ts=time")
        mapping[name.strip().lower()] = source.strip()
    return mapping


def _canonical(name: str) -> str | None:
    lowered = name.strip().lower()
    for canonical, aliases in _ALIASES.items():
        if lowered in aliases:
            return canonical
    return lowered if _LEVEL_RE.match(lowered) else None


def resolve_layout(columns: list[str], given: dict[str, str], file: str) -> Layout:
    """Match ``columns`` to the canonical fields (``given`` first); problems name the column."""
    mapping: dict[str, str] = {}
    for name, source in given.items():
        canonical = _canonical(name) if name not in _ALIASES else name
        if canonical is None:
            raise ImportProblem(
                f"--columns {name}={source}: {name!r} is not a field "
                f"(ts, price, size, side, is_buyer_maker, bid, bid_size, ask, ask_size, "
                "bid_price_N, …)"
            )
        if source not in columns:
            raise ImportProblem(
                f"{file}: --columns {name}={source}: no column {source!r} "
                f"(the file has {', '.join(columns)})"
            )
        mapping[canonical] = source
    for column in columns:
        canonical = _canonical(column)
        if canonical and canonical not in mapping and column not in mapping.values():
            mapping[canonical] = column
    if "ts" not in mapping:
        raise ImportProblem(
            f"{file}: no time column (name one with --columns ts=COLUMN; the file has "
            f"{', '.join(columns)})"
        )
    if ("price" in mapping) != ("size" in mapping):
        missing = "size" if "price" in mapping else "price"
        raise ImportProblem(f"{file}: a trade needs price and size; no {missing} column")
    depth = 0
    while all(f"{s}_{k}_{depth + 1}" in mapping for s in ("bid", "ask") for k in ("price", "size")):
        depth += 1
    partial = [c for c in mapping if _LEVEL_RE.match(c) and int(c.rsplit("_", 1)[1]) > depth]
    if partial:
        raise ImportProblem(
            f"{file}: book level columns without their pair ({', '.join(sorted(partial))}): "
            "each level needs bid and ask, price and size"
        )
    if not depth and "price" not in mapping:
        raise ImportProblem(f"{file}: neither trades (price, size) nor quotes (bid, ask) found")
    used = set(mapping.values())
    return Layout(mapping, depth, [c for c in columns if c not in used])


@dataclass
class TabularImport:
    """One CSV/Parquet input imported as one instrument."""

    path: Path
    root: Path
    venue: str
    symbol: str
    zone: str = "UTC"
    columns: dict[str, str] = field(default_factory=dict)
    rules: RuleOptions = field(default_factory=RuleOptions)
    header: bool = True
    names: list[str] | None = None
    """Column names for a file without a header row."""
    label: str | None = None
    """How the input is named in messages (a zip member, say); default the path."""
    session_parts: tuple[Path, ...] = ()
    """Files whose content names the import session (default: ``path``)."""
    progress: Callable[[int], None] | None = None
    layout: Layout | None = None
    builder: EventBuilder | None = None

    def run(self) -> StagedResult:
        """Stage and commit the whole file; nothing is written when any row is bad."""
        file = self.label or str(self.path)
        batches = self._batches()
        first = next(batches, None)
        if first is None or not first.height:
            raise ImportProblem(f"{file}: no rows")
        self.layout = resolve_layout(first.columns, self.columns, file)
        instrument = self._instrument(first, file)
        session = ImportSession(
            self.root,
            instrument,
            content_session(
                *(self.session_parts or (self.path,)),
                self.venue,
                self.symbol,
                self.zone,
                repr(self.columns),
            ),
        )
        if session.already_imported():
            session.result.already_imported = True
            return session.result
        session.check_rules()
        self.builder = EventBuilder(self.layout.depth)
        row = 1
        try:
            for batch in _chain(first, batches):
                where = Where(file, row, self._line_offset())
                rows = self._normalize(
                    batch, instrument.price_precision, instrument.size_precision, where
                )
                session.write(self.builder.events(rows, where), batch.height)
                row += batch.height
                if self.progress:
                    self.progress(batch.height)
            return session.commit()
        except BaseException:
            session.abandon()
            raise

    def _line_offset(self) -> int | None:
        if self.path.suffix.lower() == ".parquet":
            return None
        return 1 if self.header else 0

    def _batches(self) -> Iterator[pl.DataFrame]:
        try:
            if self.path.suffix.lower() == ".parquet":
                scan = pl.scan_parquet(self.path).select(pl.all().cast(pl.Utf8))
                yield from scan.collect_batches(chunk_size=BATCH_ROWS)
            else:
                yield from _csv_chunks(self.path, header=self.header, names=self.names)
        except pl.exceptions.PolarsError as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ImportProblem(
                f"{self.label or self.path}: cannot be read: {first_line}"
            ) from None

    def _instrument(self, first: pl.DataFrame, file: str) -> Instrument:
        assert self.layout is not None
        mapping = self.layout.mapping
        price_source = mapping.get("price") or mapping["bid_price_1"]
        prices = first[price_source].drop_nulls()
        prices = prices.filter(prices.str.strip_chars() != "")
        if not prices.len():
            raise ImportProblem(f"{file}: the first {first.height} rows have no {price_source}")
        try:
            first_price = Decimal(prices[0].strip())
        except ArithmeticError:
            raise ImportProblem(
                f"{file}: row 1, column {price_source}: {prices[0]!r} is not a number"
            ) from None
        price_columns = [mapping[c] for c in mapping if c == "price" or "_price_" in c]
        size_columns = [mapping[c] for c in mapping if c == "size" or "_size_" in c]
        return import_instrument(
            self.root,
            self.venue,
            self.symbol,
            first_price=first_price,
            price_decimals=max(decimals_in(first[c]) for c in price_columns),
            size_decimals=max(decimals_in(first[c]) for c in size_columns),
            options=self.rules,
        )

    def _normalize(
        self, batch: pl.DataFrame, price_precision: int, size_precision: int, where: Where
    ) -> pl.DataFrame:
        assert self.layout is not None
        mapping = self.layout.mapping
        columns = [
            timestamp_column(batch[mapping["ts"]], self.zone, where, mapping["ts"]).alias("ts")
        ]
        if self.layout.has_trades:
            columns.append(
                raw_column(batch[mapping["price"]], price_precision, where, mapping["price"]).alias(
                    "price"
                )
            )
            columns.append(
                raw_column(batch[mapping["size"]], size_precision, where, mapping["size"]).alias(
                    "size"
                )
            )
            if "side" in mapping:
                columns.append(
                    side_column(batch[mapping["side"]], where, mapping["side"]).alias("side")
                )
            elif "is_buyer_maker" in mapping:
                columns.append(
                    _maker_flag(batch[mapping["is_buyer_maker"]], where, mapping["is_buyer_maker"])
                )
        for _side, price, size in level_columns(self.layout.depth):
            columns.append(
                raw_column(batch[mapping[price]], price_precision, where, mapping[price]).alias(
                    price
                )
            )
            columns.append(
                raw_column(batch[mapping[size]], size_precision, where, mapping[size]).alias(size)
            )
        frame = pl.DataFrame(columns)
        if "side" in frame.columns:
            lacking = (frame["price"].is_not_null() & frame["side"].is_null()).arg_true()
            if lacking.len():
                index = int(lacking[0])
                source = mapping.get("side") or mapping["is_buyer_maker"]
                raise where.at(index, source, batch[source][index], "is empty (a trade needs it)")
        return frame


def _maker_flag(values: pl.Series, where: Where, column: str) -> pl.Series:
    text = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    side = (
        pl.DataFrame({"t": text})
        .select(
            pl.when(pl.col("t").is_null() | (pl.col("t") == ""))
            .then(None)
            .when(pl.col("t").is_in(("true", "1")))
            .then(pl.lit(ASK, pl.Int8))
            .when(pl.col("t").is_in(("false", "0")))
            .then(pl.lit(BID, pl.Int8))
            .otherwise(None)
            .alias("side")
        )
        .to_series()
    )
    bad = (side.is_null() & text.is_not_null() & (text != "")).arg_true()
    if bad.len():
        index = int(bad[0])
        raise where.at(index, column, values[index], "is not true or false")
    return side


CHUNK_BYTES = 16 << 20
"""CSV is read this many bytes at a time, cut at a line end: memory stays bounded by the chunk,
whatever the file's size (polars' own batched scan grew with the file)."""


def _csv_chunks(
    path: Path, *, header: bool, names: list[str] | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pl.DataFrame]:
    with open(path, "rb") as handle:
        head = handle.readline() if header else b""
        columns = names
        rest = b""
        while True:
            block = handle.read(chunk_bytes)
            data = rest + block
            if not block:
                rest = b""
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a chunk: read on
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
            if data.strip():
                frame = pl.read_csv(
                    io.BytesIO(head + data),
                    infer_schema=False,
                    has_header=header,
                    new_columns=columns,
                )
                yield frame
            if not block:
                return


def _chain(first: pl.DataFrame, rest: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    yield first
    yield from rest
