"""Incremental indicators equal their batch counterparts (numpy, TA-Lib) on the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.market_data import ASK, BID, Bar
from engine.indicators import EMA, SMA, VWAP, BarRing, BuySellPressure, TalibIndicator, TradeWindow

prices = st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=300)
floats = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300
)


@given(prices, st.integers(min_value=1, max_value=40))
def test_sma_on_ints_equals_the_exact_windowed_mean(values: list[int], period: int) -> None:
    sma = SMA(period)
    for n, value in enumerate(values):
        got = sma.update(value)
        window = values[max(0, n + 1 - period) : n + 1]
        assert sma.total == sum(window)  # exact: the running sum of ints never drifts
        assert got == sum(window) / len(window)
        assert sma.ready == (n + 1 >= period)


@given(floats, st.integers(min_value=1, max_value=40))
def test_sma_on_floats_matches_talib(values: list[float], period: int) -> None:
    sma = SMA(period)
    got = [sma.update(value) for value in values]
    expected = talib.SMA(np.array(values), timeperiod=period) if len(values) >= period else []
    for n in range(period - 1, len(values)):
        assert got[n] == pytest.approx(expected[n], rel=1e-9, abs=1e-6)


@given(floats, st.integers(min_value=2, max_value=40))
def test_ema_matches_talib(values: list[float], period: int) -> None:
    ema = EMA(period)
    got = [ema.update(value) for value in values]
    if len(values) < period:
        assert not ema.ready
        return
    expected = talib.EMA(np.array(values), timeperiod=period)
    for n in range(period - 1, len(values)):
        assert got[n] == pytest.approx(expected[n], rel=1e-9, abs=1e-6)


trades = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=10**8),  # price
        st.integers(min_value=1, max_value=10**6),  # size
        st.sampled_from([BID, ASK]),  # aggressor
        st.integers(min_value=0, max_value=5_000),  # gap to the previous trade, ns
    ),
    min_size=1,
    max_size=400,
)


def _batch_window(
    rows: list[tuple[int, int, int, int]], n: int, ticks: int | None, ns: int | None
) -> list[tuple[int, int, int, int]]:
    """Trades of the window ending at trade ``n`` (rows carry absolute ts in the last field)."""
    start = 0 if ticks is None else max(0, n + 1 - ticks)
    if ns is not None:
        cutoff = rows[n][3] - ns
        start = max(start, next(k for k in range(n + 1) if rows[k][3] > cutoff))
    return rows[start : n + 1]


@settings(max_examples=150)
@given(
    trades,
    st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
    st.one_of(st.none(), st.integers(min_value=1, max_value=20_000)),
)
def test_trade_window_equals_batch_sums(
    raw: list[tuple[int, int, int, int]], ticks: int | None, ns: int | None
) -> None:
    if ticks is None and ns is None:
        ticks = 10
    ts = 0
    rows = []
    for price, size, side, gap in raw:
        ts += gap
        rows.append((price, size, side, ts))
    vwap = VWAP(ticks=ticks, ns=ns)
    pressure = BuySellPressure(ticks=ticks, ns=ns)
    for n, (price, size, side, at) in enumerate(rows):
        vwap.update(price, size, side, at)
        pressure.update(price, size, side, at)
        window = _batch_window(rows, n, ticks, ns)
        volume = sum(r[1] for r in window)
        notional = sum(r[0] * r[1] for r in window)
        buys = sum(r[1] for r in window if r[2] == BID)
        assert (vwap.count, vwap.volume, vwap.notional) == (len(window), volume, notional)
        assert vwap.value == notional / volume
        assert pressure.buy_volume == buys
        assert pressure.value == buys / volume


def test_time_window_grows_past_its_initial_ring_and_keeps_order() -> None:
    window = TradeWindow(ns=10**12)
    for n in range(3_000):
        window.update(100 + n, 1, BID if n % 3 else ASK, n)
    assert window.count == 3_000
    assert window.notional == sum(100 + n for n in range(3_000))
    window.expire(10**12 + 1_499)  # drops ts <= 1_499
    assert window.count == 1_500
    assert window.notional == sum(100 + n for n in range(1_500, 3_000))
    assert window.buy_volume == sum(1 for n in range(1_500, 3_000) if n % 3)


def test_empty_windows_have_neutral_values() -> None:
    assert VWAP(ticks=3).value == 0.0
    assert BuySellPressure(ns=5).value == 0.5
    with pytest.raises(ValueError, match="needs ticks, ns or both"):
        TradeWindow()
    with pytest.raises(ValueError, match="period must be at least 1"):
        SMA(0)


bars = st.lists(
    st.tuples(
        st.integers(min_value=1_000, max_value=2_000),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=1, max_value=10_000),
    ),
    min_size=1,
    max_size=120,
)


def _bars(raw: list[tuple[int, int, int, int]]) -> list[Bar]:
    out = []
    for n, (close, up, down, volume) in enumerate(raw):
        out.append(Bar(n * 60, close, close + up, close - down, close, volume, 1))
    return out


@settings(max_examples=60)
@given(bars, st.integers(min_value=2, max_value=60), st.integers(min_value=2, max_value=15))
def test_talib_over_the_ring_equals_talib_over_the_same_bars(
    raw: list[tuple[int, int, int, int]], capacity: int, period: int
) -> None:
    history = _bars(raw)
    rsi = TalibIndicator("RSI", ring=BarRing(capacity, precision=2), timeperiod=period)
    atr = TalibIndicator("ATR", ring=BarRing(capacity), timeperiod=period)
    for n, bar in enumerate(history):
        got_rsi, got_atr = rsi.update(bar), atr.update(bar)
        last = history[max(0, n + 1 - capacity) : n + 1]
        close = np.array([b.close / 100 for b in last])
        high = np.array([float(b.high) for b in last])
        low = np.array([float(b.low) for b in last])
        expected_rsi = talib.RSI(close, timeperiod=period)[-1]
        expected_atr = talib.ATR(high, low, np.array([float(b.close) for b in last]), period)[-1]
        for got, expected in ((got_rsi, expected_rsi), (got_atr, expected_atr)):
            assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_talib_indicator_names_bad_functions_and_parameters() -> None:
    with pytest.raises(ValueError, match="no function 'NOPE'"):
        TalibIndicator("NOPE")
    with pytest.raises(ValueError, match="RSI takes timeperiod, not period"):
        TalibIndicator("RSI", period=3)
    macd = TalibIndicator("MACD", fastperiod=2, slowperiod=3, signalperiod=2)
    for n in range(6):
        values = macd.update(Bar(n, 10 + n, 11 + n, 9 + n, 10 + n, 1, 1))
    assert isinstance(values, tuple) and len(values) == 3 and macd.outputs[0] == "macd"
