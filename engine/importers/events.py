"""Rows of trades and book levels -> the store's events, the shape a live feed records.

A normalized row has ``ts`` (ns UTC), an optional trade (``price``, ``size``, ``side``) and
optional book levels (``bid_price_1``, ``bid_size_1``, … ``ask_size_N``, raw integers). For each
row, in order:

1. when the row's book differs from the previous row's, a book snapshot (``BOOK_CLEAR`` then one
   ``BOOK_LEVEL`` per non-empty level): quotes that change between trades become book events
   before the trade, as a venue's feed delivers them;
2. the trade, if the row has one. A row without an aggressor side gets one inferred: at or above
   the ask is a buy, at or below the bid a sell, else the tick rule (an uptick buys, a downtick
   sells, no change repeats the last side). Inferred sides are counted in the import's summary.

Rows must be in time order; the first row that goes back in time is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.importers.values import Where

__all__ = ["EventBuilder", "level_columns"]


def level_columns(depth: int) -> list[tuple[int, str, str]]:
    """``(side, price column, size column)`` for ``depth`` levels a side, best first."""
    columns = []
    for side, name in ((BID, "bid"), (ASK, "ask")):
        for level in range(1, depth + 1):
            columns.append((side, f"{name}_price_{level}", f"{name}_size_{level}"))
    return columns


@dataclass
class EventBuilder:
    """Turns normalized batches into event frames, carrying what spans batches (the last book,
    time, price and side)."""

    depth: int
    """Book levels a side in the input (0: trades only)."""
    last_ts: int | None = None
    last_book: tuple[int | None, ...] | None = None
    last_price: int | None = None
    last_side: int = BID
    inferred_sides: int = 0
    trades: int = 0
    book_snapshots: int = 0
    _levels: list[tuple[int, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._levels = level_columns(self.depth)

    def events(self, rows: pl.DataFrame, where: Where) -> pl.DataFrame:
        """The events of ``rows`` (columns ts_event, ts_init, kind, side, price, size)."""
        if not rows.height:
            return _empty()
        self._check_order(rows["ts"], where)
        rows = rows.with_row_index("row")
        parts = []
        if self._levels:
            changed = self._book_changes(rows)
            snap = rows.filter(changed)
            self.book_snapshots += snap.height
            parts.append(_event(snap, 0, BOOK_CLEAR, pl.lit(BID), pl.lit(0), pl.lit(0)))
            for sub, (side, price, size) in enumerate(self._levels, start=1):
                present = snap.filter(
                    pl.col(price).is_not_null()
                    & (pl.col(price) > 0)
                    & pl.col(size).is_not_null()
                    & (pl.col(size) > 0)
                )
                parts.append(
                    _event(present, sub, BOOK_LEVEL, pl.lit(side), pl.col(price), pl.col(size))
                )
        if "price" in rows.columns:
            traded = rows.filter(
                pl.col("price").is_not_null() & pl.col("size").is_not_null() & (pl.col("size") > 0)
            )
            if traded.height:
                sides = self._sides(traded)
                traded = traded.with_columns(sides.alias("side"))
                self.trades += traded.height
                parts.append(
                    _event(
                        traded,
                        len(self._levels) + 1,
                        TRADE,
                        pl.col("side"),
                        pl.col("price"),
                        pl.col("size"),
                    )
                )
        stride = len(self._levels) + 2
        # One integer key (row, then the event's place in the row) sorts faster than two.
        frame = (
            pl.concat(parts, how="vertical")
            .with_columns((pl.col("row").cast(pl.Int64) * stride + pl.col("sub")).alias("key"))
            .sort("key")
        )
        return frame.select(
            pl.col("ts").alias("ts_event"),
            pl.col("ts").alias("ts_init"),
            "kind",
            "side",
            "price",
            "size",
        )

    def _check_order(self, ts: pl.Series, where: Where) -> None:
        previous = ts.shift(1, fill_value=self.last_ts if self.last_ts is not None else ts[0])
        back = (ts < previous).arg_true()
        if back.len():
            index = int(back[0])
            raise where.at(
                index, "ts", ts[index], "is earlier than the row before it (sort the file by time)"
            )
        self.last_ts = int(ts[-1])

    def _book_changes(self, rows: pl.DataFrame) -> pl.Series:
        names = [name for _, price, size in self._levels for name in (price, size)]
        book = rows.select(names)
        changed = book.select(
            pl.any_horizontal([pl.col(n).ne_missing(pl.col(n).shift(1)) for n in names])
        ).to_series()
        first = tuple(book.row(0))
        changed[0] = first != self.last_book
        self.last_book = tuple(book.row(-1))
        # A row that shows no book at all (a trade before the first quote) changes nothing.
        shown = book.select(pl.any_horizontal([pl.col(n).is_not_null() for n in names]))
        return changed & shown.to_series()

    def _sides(self, traded: pl.DataFrame) -> pl.Series:
        given = traded["side"] if "side" in traded.columns else None
        if given is not None and given.null_count() == 0:
            self._remember(traded, given)
            return given.cast(pl.Int8)
        prices = traded["price"]
        previous = prices.shift(1, fill_value=self.last_price or prices[0])
        tick = (
            pl.DataFrame({"p": prices, "q": previous})
            .select(
                pl.when(pl.col("p") > pl.col("q"))
                .then(pl.lit(BID, pl.Int8))
                .when(pl.col("p") < pl.col("q"))
                .then(pl.lit(ASK, pl.Int8))
                .otherwise(None)
                .forward_fill()
                .fill_null(self.last_side)
            )
            .to_series()
        )
        inferred = tick
        if "bid_price_1" in traded.columns:
            inferred = (
                traded.with_columns(tick.alias("_tick"))
                .select(
                    pl.when(
                        pl.col("ask_price_1").is_not_null()
                        & (pl.col("price") >= pl.col("ask_price_1"))
                        & (pl.col("ask_price_1") > 0)
                    )
                    .then(pl.lit(BID, pl.Int8))
                    .when(
                        pl.col("bid_price_1").is_not_null()
                        & (pl.col("price") <= pl.col("bid_price_1"))
                        & (pl.col("bid_price_1") > 0)
                    )
                    .then(pl.lit(ASK, pl.Int8))
                    .otherwise(pl.col("_tick"))
                )
                .to_series()
            )
        sides = inferred if given is None else given.cast(pl.Int8).fill_null(inferred)
        self.inferred_sides += traded.height if given is None else given.null_count()
        self._remember(traded, sides)
        return sides

    def _remember(self, traded: pl.DataFrame, sides: pl.Series) -> None:
        self.last_price = int(traded["price"][-1])
        self.last_side = int(sides[-1])


def _event(
    rows: pl.DataFrame, sub: int, kind: int, side: pl.Expr, price: pl.Expr, size: pl.Expr
) -> pl.DataFrame:
    return rows.select(
        pl.col("row"),
        pl.lit(sub, pl.Int32).alias("sub"),
        pl.col("ts").cast(pl.Int64),
        pl.lit(kind, pl.Int8).alias("kind"),
        side.cast(pl.Int8).alias("side"),
        price.cast(pl.Int64).alias("price"),
        size.cast(pl.Int64).alias("size"),
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "ts_event": pl.Int64,
            "ts_init": pl.Int64,
            "kind": pl.Int8,
            "side": pl.Int8,
            "price": pl.Int64,
            "size": pl.Int64,
        }
    )
