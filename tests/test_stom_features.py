"""STOM's rows and window functions (engine.features) against direct numpy over the same rows."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from engine.features.stom_rows import FIELDS, StomRows
from engine.features.stom_windows import WINDOW_FUNCTIONS

NS = 1_000_000_000
KST_0900 = 1_767_571_200 * NS  # 2026-01-05 09:00 KST = 00:00 UTC


def fed_rows(count: int, seed: int = 3, market: str = "stock") -> StomRows:
    rng = random.Random(seed)
    rows = StomRows(market, 1, 1)
    price, ts = 70_000, KST_0900
    while rows.length < count:
        ts += rng.randint(1, 3) * NS
        for _ in range(rng.randint(0, 4)):
            price += rng.choice((-100, 0, 100))
            rows.trade(price, rng.randint(1, 50), rng.random() < 0.5, ts)
        asks = [(price + 100 * k, rng.randint(1, 900)) for k in range(1, 6)]
        bids = [(price - 100 * (k - 1), rng.randint(1, 900)) for k in range(1, 6)]
        rows.book(asks, bids, ts)
    return rows


def numpy_window(name: str, column: np.ndarray, first: int, last: int) -> float:
    window = column[first : last + 1]
    results = {
        "이동평균": window.mean(),
        "최고현재가": window.max(),
        "최저현재가": window.min(),
        "체결강도평균": round(float(window.mean()), 3),
        "최고체결강도": window.max(),
        "최저체결강도": window.min(),
        "최고초당매수수량": window.max(),
        "최고초당매도수량": window.max(),
        "누적초당매수수량": window.sum(),
        "누적초당매도수량": window.sum(),
        "초당거래대금평균": float(int(window.mean())),
    }
    return float(results[name])


@pytest.mark.parametrize("name", sorted(WINDOW_FUNCTIONS))
@pytest.mark.parametrize(("n", "pre"), [(1, 0), (5, 0), (30, 0), (30, 3), (12, 7), (60, 0)])
def test_window_functions_equal_numpy_over_the_rows(name: str, n: int, pre: int) -> None:
    rows = fed_rows(80)
    column = np.asarray(rows.columns[WINDOW_FUNCTIONS[name][0]])
    i = rows.length - 1
    first, last = i - pre - n + 1, i - pre
    expected = numpy_window(name, column, first, last)
    assert rows.window(name, n, pre) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_windows_anchored_at_the_buy_row_and_out_of_range_give_zero() -> None:
    rows = fed_rows(50)
    prices = np.asarray(rows.columns["현재가"])
    assert rows.window("이동평균", 10, -1, buy_row=20) == pytest.approx(prices[11:21].mean())
    assert rows.window("이동평균", 51, 0) == 0.0  # reaches before the day's first row
    assert rows.window("이동평균", 10, 45) == 0.0
    assert rows.window("이동평균", 10, -1, buy_row=None) == 0.0


@pytest.mark.parametrize(
    ("name", "field", "scale"),
    [("등락율각도", "등락율", 5.0), ("당일거래대금각도", "당일거래대금", 0.01)],
)
def test_angles_are_stoms_atan2_over_the_window(name: str, field: str, scale: float) -> None:
    rows = fed_rows(40)
    values = np.asarray(rows.columns[field])
    i = rows.length - 1
    for n, pre in ((5, 0), (20, 2)):
        delta = values[i - pre] - values[i - pre - n + 1]
        expected = round(math.degrees(math.atan2(scale * delta, n)), 2)
        assert rows.window(name, n, pre) == expected


def test_history_accessors() -> None:
    rows = fed_rows(20)
    prices = rows.columns["현재가"]
    assert rows.history("현재가", 0) == prices[-1]
    assert rows.history("현재가", 3) == prices[-4]
    assert rows.history("현재가", 20) == 0.0
    assert rows.history("현재가", -1, buy_row=5) == prices[5]


def test_a_row_per_second_at_most_with_the_seconds_trades() -> None:
    rows = StomRows("stock", 1, 1)
    book = [(70_100, 10)], [(70_000, 10)]
    rows.trade(70_000, 5, True, KST_0900)
    rows.trade(70_100, 3, False, KST_0900 + 1)
    assert rows.book(*book, KST_0900 + 2)
    assert not rows.book(*book, KST_0900 + NS - 1)  # same second: no second row
    rows.trade(70_100, 7, True, KST_0900 + NS + 5)
    assert rows.book(*book, KST_0900 + NS + 6)
    assert rows.columns["초당매수수량"] == [5.0, 7.0]
    assert rows.columns["초당매도수량"] == [3.0, 0.0]
    # 체결강도: the day's buy / sell volume × 100 (500 while nothing sold).
    assert rows.columns["체결강도"] == [round(5 / 3 * 100, 2), round(12 / 3 * 100, 2)]
    # 당일거래대금 in 백만원 for stocks; 초당거래대금 its change since the previous row.
    day_value = (70_000 * 5 + 70_100 * 3 + 70_100 * 7) / 1e6
    assert rows.columns["당일거래대금"][-1] == pytest.approx(day_value)
    assert rows.columns["초당거래대금"][-1] == pytest.approx(70_100 * 7 / 1e6)
    assert rows.value("매도호가1") == 70_100 and rows.value("매도호가2") == 0.0


def test_rows_reset_on_the_markets_day_with_the_previous_close() -> None:
    rows = fed_rows(30)
    close = rows.value("현재가")
    next_day = rows.times[-1] + 86_400 * NS
    rows.trade(int(close * 1.01), 1, True, next_day)
    assert rows.book([(int(close * 1.02), 1)], [(int(close), 1)], next_day)
    assert rows.length == 1 and rows.value("등락율") == pytest.approx(1.0, abs=0.01)
    assert set(rows.columns) == set(FIELDS)
