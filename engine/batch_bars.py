"""Time bars from recorded ticks in one polars pass: the same bars :mod:`engine.bars` builds live.

Live, a trade opens a new bar when its time reaches the end of the forming bar's interval, and
otherwise joins the forming bar (so a trade stamped slightly out of order stays in the bar that
was forming). Here the same rule is a running maximum: a trade's bar opens at
``max(ts so far) - max(ts so far) % interval``. For time-ordered ticks this is just the interval
of the trade's own timestamp. ``open`` and ``close`` are the first and last trades in arrival
order; intervals without trades have no bar, as live. ``tests/test_batch_bars.py`` checks that the
two give identical bars.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from engine.bars import TIMEFRAME_NS
from engine.domain.market_data import TRADE, Bar

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

BAR_COLUMNS = ("ts_open", "open", "high", "low", "close", "volume", "trades")


def bars_frame(ticks: Frame, timeframe: str) -> Frame:
    """Bars of ``timeframe`` ("1s", "1m", "5m", "15m") from tick rows in arrival order.

    ``ticks`` has the tick store's columns ``ts_event``, ``price`` and ``size``; rows whose
    ``kind`` is not a trade are ignored when a ``kind`` column is present, and an ``instrument``
    column, when present, gives bars per instrument (a column of the result).
    """
    if timeframe not in TIMEFRAME_NS:
        raise ValueError(f"timeframe {timeframe!r} is not one of {', '.join(TIMEFRAME_NS)}")
    interval = TIMEFRAME_NS[timeframe]
    names = ticks.collect_schema().names()
    keys: list[str] = ["instrument"] if "instrument" in names else []
    trades = ticks.filter(pl.col("kind") == TRADE) if "kind" in names else ticks
    running = pl.col("ts_event").cum_max()
    if keys:
        running = running.over(keys)
    return (
        trades.with_columns((running - running % interval).alias("ts_open"))
        .group_by([*keys, "ts_open"], maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            pl.len().cast(pl.Int64).alias("trades"),
        )
        .sort([*keys, "ts_open"], maintain_order=True)
    )


def bars_list(ticks: pl.DataFrame, timeframe: str) -> list[Bar]:
    """:func:`bars_frame` of one instrument's ticks as :class:`Bar` values, oldest first."""
    frame = bars_frame(ticks, timeframe).select(BAR_COLUMNS)
    return [Bar(*row) for row in frame.iter_rows()]
