"""Batch bars (polars) equal the live bars (engine.bars) on the same ticks."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bars import TIMEFRAME_NS, BarSeries
from engine.batch_bars import bars_frame, bars_list
from engine.domain.market_data import BOOK_LEVEL, TRADE, Bar

S = 1_000_000_000
START = 1_700_000_000 * S


def live_bars(rows: list[tuple[int, int, int]], timeframe: str) -> list[Bar]:
    series = BarSeries(timeframe, history=100_000)
    for ts, price, size in rows:
        series.on_trade(ts, price, size)
    closed = list(series.history)
    return [*closed, series.current] if series.current is not None else closed


def frame(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts_event": [r[0] for r in rows],
            "price": [r[1] for r in rows],
            "size": [r[2] for r in rows],
        },
        schema={"ts_event": pl.Int64, "price": pl.Int64, "size": pl.Int64},
    )


ticks = st.lists(
    st.tuples(
        # mostly forward in time, sometimes a little back (venues stamp out of order)
        st.integers(min_value=-3 * S, max_value=200 * S),
        st.integers(min_value=1, max_value=10_000),
        st.integers(min_value=1, max_value=1_000),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200)
@given(ticks, st.sampled_from(["1m", "5m", "15m", "1s"]))
def test_batch_bars_equal_live_bars(steps: list[tuple[int, int, int]], timeframe: str) -> None:
    ts = START
    rows = []
    for gap, price, size in steps:
        ts += gap
        rows.append((ts, price, size))
    assert bars_list(frame(rows), timeframe) == live_bars(rows, timeframe)


def test_book_rows_are_ignored_and_instruments_get_their_own_bars() -> None:
    m = 60 * S
    data = pl.DataFrame(
        {
            "ts_event": [START, START + 1, START + 2, START + m, START + m + 5, START + 5 * m],
            "kind": [TRADE, BOOK_LEVEL, TRADE, TRADE, TRADE, TRADE],
            "instrument": [0, 0, 1, 0, 1, 0],
            "price": [100, 999, 50, 101, 51, 99],
            "size": [1, 7, 2, 3, 4, 5],
        }
    )
    five = bars_frame(data.lazy(), "5m").collect()
    assert five.to_dicts() == [
        {"instrument": 0, "ts_open": START - START % (5 * m), "open": 100, "high": 101,
         "low": 100, "close": 101, "volume": 4, "trades": 2},
        {"instrument": 0, "ts_open": START + 5 * m - (START + 5 * m) % (5 * m), "open": 99,
         "high": 99, "low": 99, "close": 99, "volume": 5, "trades": 1},
        {"instrument": 1, "ts_open": START - START % (5 * m), "open": 50, "high": 51,
         "low": 50, "close": 51, "volume": 6, "trades": 2},
    ]  # fmt: skip
    assert set(TIMEFRAME_NS) >= {"1m", "5m", "15m"}
