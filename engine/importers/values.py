"""Text columns to the store's integers, exactly, with the first bad row named.

Prices and sizes are read as text and scaled to raw integers digit by digit (never through a
float), so ``0.1`` is exactly one tick at precision 1. Timestamps are epoch numbers (the unit told
by magnitude: s, ms, µs or ns) or ISO date-times (naive ones in the import's zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import polars as pl

from engine.domain.market_data import ASK, BID

__all__ = [
    "ImportProblem",
    "Where",
    "decimals_in",
    "raw_column",
    "raw_from_float",
    "side_column",
    "timestamp_column",
]

_NUMBER = r"^[+-]?\d+(\.\d*)?$"
_EPOCH_UNITS = ((10**17, 1), (10**14, 1_000), (10**11, 1_000_000), (0, 1_000_000_000))
"""(smallest magnitude, factor to ns): ns ≥ 1e17, µs ≥ 1e14, ms ≥ 1e11, else seconds."""


class ImportProblem(ValueError):
    """Input the importer will not write: names the file, and the row and column where known."""


@dataclass(frozen=True, slots=True)
class Where:
    """Where a batch came from, to name a bad row: ``row`` is the batch's first data row (1-based)
    and ``line_offset`` turns a row into a text file's line (1 for a CSV with a header, 0 without
    one; None where there are no lines, as in Parquet or SQLite)."""

    file: str
    row: int
    line_offset: int | None = None

    def at(self, index: int, column: str, value: object, problem: str) -> ImportProblem:
        row = self.row + index
        line = f", line {row + self.line_offset}" if self.line_offset is not None else ""
        return ImportProblem(f"{self.file}: row {row}{line}, column {column}: {value!r} {problem}")


def _first_bad(mask: pl.Series) -> int | None:
    hits = mask.fill_null(False).arg_true()
    return int(hits.item(0)) if hits.len() else None


def decimals_in(values: pl.Series) -> int:
    """The precision ``values`` are written at: the written decimals when every value has the
    same count (fixed-format output such as Binance's ``0.20000000``: the publisher's
    precision, safe for the rows not seen yet), else the most significant decimals any has."""
    text = values.drop_nulls().cast(pl.Utf8).str.strip_chars()
    text = text.filter(text != "")
    written = text.str.extract(r"\.(\d*)$", 1).fill_null("").str.len_chars()
    if written.len() and written.min() == written.max():
        return cast(int, written.max())
    fractions = text.str.extract(r"\.(\d*?)0*$", 1).fill_null("")
    return cast("int | None", fractions.str.len_chars().max()) or 0


def raw_column(values: pl.Series, precision: int, where: Where, column: str) -> pl.Series:
    """Decimal text -> raw integers at ``precision`` (empty stays null); a value that is not a
    plain non-negative decimal, or has digits beyond the precision, is an
    :class:`ImportProblem` naming its row."""
    text = values.cast(pl.Utf8).str.strip_chars()
    text = text.set(text == "", None)
    fast = _raw_by_float(text, precision)
    if fast is not None:
        scaled, bad = fast
        if not bad.any():
            return scaled.alias(column)
    return _raw_by_digits(values, text, precision, where, column)


_FAST_CHARS = 15
"""Text this short holds at most 14 digits: parsed as a float and scaled, a value on the grid
lands within a few ulps of an integer, and one digit beyond the grid leaves a fraction of at
least 10 ** (digits - 14) of the scaled value, far above float error (about 2e-16 of it)."""


def _raw_by_float(text: pl.Series, precision: int) -> tuple[pl.Series, pl.Series] | None:
    """The fast exact path (None when some value is too long for it)."""
    longest = cast("int | None", text.str.len_bytes().max())
    if (longest or 0) > _FAST_CHARS:
        return None
    t = pl.col("t")
    number = t.cast(pl.Float64, strict=False)
    scaled = number * float(10**precision)
    rounded = scaled.round(0)
    # Not a number (text that does not parse, nan, inf), negative, off the grid, or too large
    # for exact integers: the digit path names the row and the reason.
    bad = (
        (number.is_null() & t.is_not_null())
        | number.is_nan()
        | number.is_infinite()
        | (number < 0)
        | ((scaled - rounded).abs() > scaled.abs() * 1e-14 + 1e-9)
        | (rounded.abs() >= 2.0**53)
        | t.str.contains("[eE]")
    ).fill_null(False)
    out = pl.DataFrame({"t": text}).select(
        rounded.cast(pl.Int64, strict=False).alias("r"), bad.alias("b")
    )
    return out["r"], out["b"]


def _raw_by_digits(
    values: pl.Series, text: pl.Series, precision: int, where: Where, column: str
) -> pl.Series:
    """Digit by digit, exactly, at any length; names the first bad row."""
    bad = ~text.str.contains(_NUMBER) | text.str.starts_with("-")
    index = _first_bad(bad)
    if index is not None:
        raise where.at(index, column, values[index], "is not a non-negative decimal number")
    parts = text.str.split_exact(".", 1).struct.rename_fields(["whole", "fraction"]).struct.unnest()
    whole = parts["whole"].str.strip_chars_start("+")
    fraction = parts["fraction"].fill_null("")
    beyond = fraction.str.slice(precision).str.contains(r"[1-9]")
    index = _first_bad(beyond)
    if index is not None:
        raise where.at(
            index, column, values[index], f"has more than {precision} decimals (the grid)"
        )
    # Int64 holds 18 whole digits; the raw value spends ``precision`` of them on the fraction.
    index = _first_bad(whole.str.strip_chars_start("0").str.len_chars() > 18 - precision)
    if index is not None:
        raise where.at(index, column, values[index], "is too large to store")
    scaled = fraction.str.slice(0, precision).str.pad_end(precision, "0") if precision else None
    raw = whole.cast(pl.Int64) * (10**precision)
    if scaled is not None:
        raw = raw + scaled.cast(pl.Int64)
    return raw.alias(column)


def raw_from_float(values: pl.Series, precision: int, where: Where, column: str) -> pl.Series:
    """Stored floats (SQLite REAL) -> raw integers at ``precision``. The value a REAL holds is
    the nearest double to the decimal written, so scaled it lies within float noise of an
    integer; anything further is off the grid and named, as are negatives and NaN."""
    x = pl.col("x")
    scaled = x * float(10**precision)
    rounded = scaled.round(0)
    bad = (
        x.is_nan()
        | x.is_infinite()
        | (x < 0)
        | ((scaled - rounded).abs() > scaled.abs() * 1e-12 + 1e-6)
        | (rounded.abs() >= 2.0**62)
    ).fill_null(False)
    out = pl.DataFrame({"x": values.cast(pl.Float64)}).select(
        rounded.cast(pl.Int64, strict=False).alias("r"), bad.alias("b")
    )
    index = _first_bad(out["b"])
    if index is not None:
        raise where.at(
            index,
            column,
            values[index],
            f"is negative, not a number or off the {precision}-decimal grid",
        )
    return out["r"].alias(column)


def timestamp_column(values: pl.Series, zone: str, where: Where, column: str) -> pl.Series:
    """Epoch numbers (unit by magnitude) or ISO date-times -> ns UTC."""
    text = values.cast(pl.Utf8).str.strip_chars()
    missing = _first_bad(text.is_null() | (text == ""))
    if missing is not None:
        raise where.at(missing, column, values[missing], "is empty (every row needs a time)")
    whole = text.cast(pl.Int64, strict=False)
    if whole.null_count() == 0 and whole.min() is not None and int(whole.min()) >= 0:  # type: ignore[arg-type]
        return _epoch_whole(whole, text, where, column)
    numeric = text.str.contains(r"^\d+(\.\d+)?$")
    if numeric[0]:
        index = _first_bad(~numeric)
        if index is not None:
            raise where.at(
                index, column, values[index], "is not an epoch time like the first row's"
            )
        return _epoch(text, where, column)
    try:
        parsed = text.str.to_datetime(time_unit="ns", strict=False)
    except pl.exceptions.PolarsError:
        raise where.at(
            0, column, values[0], "is not a time (epoch number or ISO date-time)"
        ) from None
    dtype = parsed.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        parsed = parsed.dt.replace_time_zone(zone, ambiguous="earliest")
    index = _first_bad(parsed.is_null())
    if index is not None:
        raise where.at(
            index, column, values[index], "is not a time (epoch number or ISO date-time)"
        )
    return parsed.dt.epoch("ns").alias(column)


def _unit(first: int) -> tuple[int, int, int]:
    """(factor to ns, smallest, largest magnitude) for an epoch value like ``first``."""
    factor = next(f for floor, f in _EPOCH_UNITS if first >= floor)
    lower = next(floor for floor, f in _EPOCH_UNITS if f == factor)
    upper = 2**63 - 1 if factor == 1 else (lower * 1000 if lower else 10**11)
    return factor, lower, upper


def _epoch_whole(whole: pl.Series, text: pl.Series, where: Where, column: str) -> pl.Series:
    """Whole epoch numbers (the common case): no text work at all."""
    factor, lower, upper = _unit(int(whole[0]))
    index = _first_bad((whole < lower) | (whole >= upper))
    if index is not None:
        raise where.at(
            index, column, text[index], "is not in the same epoch unit as the first row's"
        )
    return (whole * factor).alias(column)


def _epoch(text: pl.Series, where: Where, column: str) -> pl.Series:
    whole = text.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)
    index = _first_bad(whole.is_null())
    if index is not None:
        raise where.at(index, column, text[index], "is too large for an epoch time")
    factor, lower, upper = _unit(int(whole[0]))
    off = (whole < lower) | (whole >= upper)
    index = _first_bad(off)
    if index is not None:
        raise where.at(
            index, column, text[index], "is not in the same epoch unit as the first row's"
        )
    fraction = text.str.extract(r"\.(\d+)$", 1).fill_null("")
    digits = {1: 0, 1_000: 3, 1_000_000: 6, 1_000_000_000: 9}[factor]
    extra = fraction.str.slice(0, digits).str.pad_end(digits, "0")
    scaled = whole * factor
    if digits:
        scaled = scaled + extra.cast(pl.Int64)
    return scaled.alias(column)


_BUY = ("buy", "b", "bid", "1", "+1", "long")
_SELL = ("sell", "s", "ask", "-1", "short", "offer")


def side_column(values: pl.Series, where: Where, column: str) -> pl.Series:
    """The aggressor's side text (buy/sell, b/s, bid/ask, 1/-1) -> BID or ASK."""
    text = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    result = (
        pl.DataFrame({"t": text})
        .select(
            pl.when(pl.col("t").is_null() | (pl.col("t") == ""))
            .then(None)
            .when(pl.col("t").is_in(_BUY))
            .then(pl.lit(BID, pl.Int8))
            .when(pl.col("t").is_in(_SELL))
            .then(pl.lit(ASK, pl.Int8))
            .otherwise(None)
            .alias(column)
        )
        .to_series()
    )
    index = _first_bad(result.is_null() & text.is_not_null() & (text != ""))
    if index is not None:
        raise where.at(index, column, values[index], "is not a side (buy/sell, b/s, 1/-1)")
    return result
