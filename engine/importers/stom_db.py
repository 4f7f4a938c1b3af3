"""STOM's SQLite tick and minute databases (``stock_tick_back.db``, ``coin_tick_back.db``, the
``*_min*`` files): one table per code, ``index`` as ``YYYYMMDDHHMMSS`` (``YYYYMMDDHHMM`` in
minute files), KST for stocks and UTC for coins (``shared/stom-formats.md`` §1).

What a STOM row is, and what it becomes here:

- A row is a **snapshot** STOM took when the book changed (at most one a second per code), not a
  trade. It carries the last price (현재가), the aggressor volumes since the previous row
  (초당매수수량 / 초당매도수량; 분당… in minute files) and five book levels a side.
- Each row becomes up to two trade prints at 현재가 (the buy volume, then the sell volume: STOM
  keeps no individual trades, so these are the second's aggregates at its last price), then a
  book snapshot when the five levels changed. Zero prices and sizes are STOM's padding of a
  shifted book and are left out of the book.
- Columns are found by name, so both schema versions (v1, and the 2026 re-ordered v2 with extra
  columns) import; other columns are ignored and listed. Rows with the same ``index`` are
  duplicates (STOM has no primary key): the first is kept and the rest counted.
- Stocks get KRX rules (tick bands, daily limit, fee); coins Upbit's KRW rules, or, with
  ``--venue BINANCE``, rules from the data.

Each table is its own import unit (staged, committed, idempotent), so a multi-GB database
imports table by table with bounded memory, and a re-run after an interruption skips the tables
already in the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID
from engine.importers.events import EventBuilder, level_columns
from engine.importers.instruments import RuleOptions, import_instrument, krx_segment
from engine.importers.staging import ImportSession, StagedResult, content_session
from engine.importers.summary import summary_row
from engine.importers.values import ImportProblem, Where, raw_from_float

__all__ = ["STOM_SKIP_TABLES", "import_stom_database"]

STOM_SKIP_TABLES = frozenset(
    {"moneytop", "codename", "dist", "dist_chk", "temp", "sqlite_sequence", "stockinfo"}
)
BATCH_ROWS = 50_000
DEPTH = 5
_KNOWN = {
    # v1 and v2 stock/coin tick and minute columns (stom-formats.md §1.4-1.7).
    "index", "현재가", "시가", "고가", "저가", "등락율", "당일거래대금", "체결강도", "거래대금증감",
    "전일비", "회전율", "전일동시간비", "시가총액", "라운드피겨위5호가이내", "초당매수수량",
    "초당매도수량", "분당매수수량", "분당매도수량", "VI해제시간", "VI가격", "VI호가단위",
    "초당거래대금", "분당거래대금", "분봉시가", "분봉고가", "분봉저가", "고저평균대비등락율",
    "저가대비고가등락율", "초당매수금액", "초당매도금액", "당일매수금액", "최고매수금액",
    "최고매수가격", "당일매도금액", "최고매도금액", "최고매도가격", "매도총잔량", "매수총잔량",
    "매도수5호가잔량합", "관심종목", "이동평균150",
    *(f"매도호가{k}" for k in range(1, 6)), *(f"매수호가{k}" for k in range(1, 6)),
    *(f"매도잔량{k}" for k in range(1, 6)), *(f"매수잔량{k}" for k in range(1, 6)),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Kind:
    market: str
    """``stock`` or ``coin``."""
    minute: bool
    zone: str


def _kind_of(path: Path, tables: list[str], con: sqlite3.Connection) -> _Kind:
    name = path.name.lower()
    market = "stock" if name.startswith("stock") else "coin" if name.startswith("coin") else ""
    if not market:
        sample = tables[0]
        market = "stock" if sample.isalnum() and len(sample) == 6 else "coin"
    first = con.execute(f'SELECT "index" FROM {_quoted(tables[0])} LIMIT 1').fetchone()
    digits = len(str(int(first[0]))) if first and first[0] is not None else 14
    if digits not in (12, 14):
        raise ImportProblem(
            f"{path}: table {tables[0]}: index {first[0]!r} is neither YYYYMMDDHHMMSS (tick) "
            "nor YYYYMMDDHHMM (minute)"
        )
    return _Kind(market, digits == 12, "Asia/Seoul" if market == "stock" else "UTC")


def import_stom_database(
    path: Path,
    root: Path,
    *,
    venue: str | None,
    codes: str | None,
    progress: Callable[[int], Callable[[int], None]] | None = None,
    segments: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Import every code table (or the ``codes``, comma-separated) of a STOM database."""
    con = _open(path)
    try:
        tables = [
            row[0]
            for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] not in STOM_SKIP_TABLES
        ]
        if codes:
            wanted = [code.strip() for code in codes.split(",") if code.strip()]
            missing = [code for code in wanted if code not in tables]
            if missing:
                raise ImportProblem(f"{path}: no table for {', '.join(missing)}")
            tables = wanted
        if not tables:
            raise ImportProblem(f"{path}: no code tables (is this a STOM tick or minute DB?)")
        kind = _kind_of(path, tables, con)
        target_venue = "KRX" if kind.market == "stock" else (venue or "UPBIT").upper()
        names = _names(con)
        segments = segments or {}
        # Every table's layout is checked before anything is written: a whole-file problem
        # changes nothing. A bad row stops its own table; the tables before it stay imported
        # (each is its own unit, so a re-run after the fix skips them).
        jobs = [
            _TableImport(path, con, t, kind, target_venue, names.get(t), segments.get(t))
            for t in tables
        ]
        advance = progress(sum(job.count for job in jobs)) if progress else None
        summaries = []
        for job in jobs:
            result = job.run(root, advance)
            summaries.append(summary_row(path, result, job.builder, job.ignored))
            summaries[-1]["duplicates_dropped"] = job.duplicates
            if job.segment:
                summaries[-1]["segment"] = job.segment
        return summaries
    finally:
        con.close()


def _open(path: Path) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ImportProblem(f"{path}: not a SQLite database ({exc})") from None
    return con


def _names(con: sqlite3.Connection) -> dict[str, tuple[str, bool]]:
    """code -> (종목명, KOSDAQ) from a stock DB's ``codename`` table (empty for coin DBs)."""
    try:
        rows = con.execute('SELECT "index", 종목명, 코스닥 FROM codename').fetchall()
    except sqlite3.DatabaseError:
        return {}
    return {str(code): (str(name), bool(kosdaq)) for code, name, kosdaq in rows}


class _TableImport:
    """One code table: columns by name, rows in index order, duplicates dropped."""

    def __init__(
        self,
        path: Path,
        con: sqlite3.Connection,
        table: str,
        kind: _Kind,
        venue: str,
        name: tuple[str, bool] | None,
        segment: str | None,
    ) -> None:
        self.path = path
        self.con = con
        self.table = table
        self.kind = kind
        self.venue = venue
        self.name = name[0] if name else None
        self.segment: str | None = None
        if venue == "KRX":
            self.segment = segment or krx_segment(*(name or (table, False)))
        self.label = f"{path.name}:{table}"
        self.columns = [row[1] for row in con.execute(f"PRAGMA table_info({_quoted(table)})")]
        self.ignored = [c for c in self.columns if c not in _KNOWN]
        per = "분당" if kind.minute else "초당"
        self.buy, self.sell = f"{per}매수수량", f"{per}매도수량"
        needed = [
            "index",
            "현재가",
            self.buy,
            self.sell,
            *(
                f"{side}{what}{k}"
                for side in ("매도", "매수")
                for what in ("호가", "잔량")
                for k in range(1, 6)
            ),
        ]
        missing = [c for c in needed if c not in self.columns]
        if missing:
            raise ImportProblem(
                f"{self.label}: missing column(s) {', '.join(missing)} "
                f"(the table has {', '.join(self.columns)})"
            )
        self.duplicates = 0
        self.builder: EventBuilder | None = None
        table = _quoted(self.table)
        self.stats: tuple[int, Any, Any, float] = con.execute(
            f'SELECT count(*), min("index"), max("index"), total("현재가") FROM {table}'
        ).fetchone()
        self.count = int(self.stats[0])

    def run(self, root: Path, advance: Callable[[int], None] | None = None) -> StagedResult:
        count, first, last, total = self.stats
        if not count:
            raise ImportProblem(f"{self.label}: the table is empty")
        instrument = self._instrument(root)
        session = ImportSession(
            root,
            instrument,
            content_session(self.table, self.venue, f"{count}:{first}:{last}:{total}"),
        )
        if session.already_imported():
            session.result.already_imported = True
            return session.result
        session.check_rules()
        self.builder = EventBuilder(DEPTH)
        cursor = self.con.execute(
            f"SELECT {', '.join(_quoted(c) for c in self._read_columns())} "
            f'FROM {_quoted(self.table)} ORDER BY "index"'
        )
        last_index: int | None = None
        row = 1
        try:
            while chunk := cursor.fetchmany(BATCH_ROWS):
                frame = pl.DataFrame(chunk, schema=self._read_columns(), orient="row")
                frame, last_index = self._dedupe(frame, last_index)
                where = Where(self.label, row)
                rows = self._normalize(frame, instrument, where)
                session.write(self.builder.events(rows, where), frame.height)
                row += len(chunk)
                if advance is not None:
                    advance(len(chunk))
            return session.commit()
        except BaseException:
            session.abandon()
            raise

    def _read_columns(self) -> list[str]:
        return [
            "index",
            "현재가",
            self.buy,
            self.sell,
            *(f"매수호가{k}" for k in range(1, 6)),
            *(f"매수잔량{k}" for k in range(1, 6)),
            *(f"매도호가{k}" for k in range(1, 6)),
            *(f"매도잔량{k}" for k in range(1, 6)),
        ]

    def _instrument(self, root: Path) -> Instrument:
        price = self.con.execute(
            f'SELECT "현재가" FROM {_quoted(self.table)} WHERE "현재가" > 0 LIMIT 1'
        ).fetchone()
        if price is None:
            raise ImportProblem(f"{self.label}: no row has a price (현재가 > 0)")
        size_decimals = 0 if self.kind.market == "stock" else 8
        return import_instrument(
            root,
            self.venue,
            self.table,
            first_price=Decimal(repr(float(price[0]))),
            price_decimals=0 if self.kind.market == "stock" else 8,
            size_decimals=size_decimals,
            options=RuleOptions(name=self.name, segment=self.segment),
        )

    def _dedupe(
        self, frame: pl.DataFrame, last_index: int | None
    ) -> tuple[pl.DataFrame, int | None]:
        before = frame.height
        frame = frame.unique(subset="index", keep="first", maintain_order=True)
        if last_index is not None:
            frame = frame.filter(pl.col("index") != last_index)
        self.duplicates += before - frame.height
        return frame, (int(frame["index"][-1]) if frame.height else last_index)

    def _normalize(self, frame: pl.DataFrame, instrument: Instrument, where: Where) -> pl.DataFrame:
        fmt = "%Y%m%d%H%M" if self.kind.minute else "%Y%m%d%H%M%S"
        ts = (
            frame["index"]
            .cast(pl.Int64)
            .cast(pl.Utf8)
            .str.to_datetime(fmt, strict=False, time_unit="ns")
        )
        bad = ts.is_null().arg_true()
        if bad.len():
            index = int(bad[0])
            raise where.at(index, "index", frame["index"][index], f"is not a {fmt} time")
        ts_ns = ts.dt.replace_time_zone(self.kind.zone).dt.epoch("ns")
        pp, sp = instrument.price_precision, instrument.size_precision

        def raw(column: str, precision: int) -> pl.Series:
            # STOM stores REAL (pandas to_sql): read the doubles, not their text.
            return raw_from_float(frame[column], precision, where, column)

        price = raw("현재가", pp)
        book = {"ts": ts_ns}
        for side, (hoga, jan) in ((BID, ("매수호가", "매수잔량")), (ASK, ("매도호가", "매도잔량"))):
            name = "bid" if side == BID else "ask"
            for k in range(1, 6):
                book[f"{name}_price_{k}"] = raw(f"{hoga}{k}", pp)
                book[f"{name}_size_{k}"] = raw(f"{jan}{k}", sp)
        book_rows = pl.DataFrame(book).with_row_index("row").with_columns(pl.lit(2).alias("sub"))
        trades = []
        for sub, (column, side) in enumerate(((self.buy, BID), (self.sell, ASK))):
            trades.append(
                pl.DataFrame({"ts": ts_ns, "price": price, "size": raw(column, sp)})
                .with_row_index("row")
                .with_columns(pl.lit(sub).alias("sub"), pl.lit(side, pl.Int8).alias("side"))
            )
        # Trades of the second first, then the book the row shows; trade rows carry the book of
        # the row before (forward-filled) so they never look like a book change.
        level_names = [n for _, p, s in level_columns(DEPTH) for n in (p, s)]
        merged = (
            pl.concat([*trades, book_rows], how="diagonal")
            .sort(["row", "sub"])
            .with_columns(pl.col(level_names).forward_fill())
        )
        if self.builder is not None and self.builder.last_book is not None:
            carry = dict(zip(level_names, self.builder.last_book, strict=True))
            merged = merged.with_columns([pl.col(n).fill_null(carry[n]) for n in level_names])
        return merged.drop("row", "sub")


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'
