"""STOM's history accessors and window functions over one code's rows of the day
(``shared/stom-formats.md`` §3.2-3.4).

A window ``f(N, pre=0)`` covers the N rows ending ``pre`` rows before the current row i, that is
rows ``[i - pre - N + 1, i - pre]``: the current row is included when ``pre == 0``. With
``pre == -1`` the window ends at the buy row b instead: ``[b - N + 1, b]``. A window reaching
before the day's first row gives 0, as in STOM.

Rows reset every day (STOM's live rule; its backtester let long averages reach into the previous
day, which live trading never saw): the first rows of a day have short windows and return 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["ANGLE_SCALE", "WINDOW_FUNCTIONS", "history", "window", "window_bounds"]

ANGLE_SCALE = {
    "등락율각도": {"stock": 5.0, "coin": 10.0},
    "당일거래대금각도": {"stock": 0.01, "coin": 1e-8},
}
"""cf in ``degrees(atan2(cf * Δ, N))``: 당일거래대금 is in 백만원 for stocks, KRW for coins, so both
angles read per 1억 of value (§3.4)."""


def window_bounds(length: int, n: int, pre: int, buy_row: int | None) -> tuple[int, int] | None:
    """``(first, last)`` row indexes of the window, or None when it does not fit in the day."""
    if n < 1:
        return None
    if pre == -1:
        if buy_row is None:
            return None
        last = buy_row
    else:
        last = length - 1 - pre
    first = last - n + 1
    if first < 0 or last >= length or last < 0:
        return None
    return first, last


def history(values: Sequence[float], k: int, buy_row: int | None) -> float:
    """``<field>N(k)``: the value k rows ago; ``k == -1`` the value at the buy row; 0 beyond."""
    length = len(values)
    if k == -1:
        return values[buy_row] if buy_row is not None and 0 <= buy_row < length else 0.0
    if k < 0 or k >= length:
        return 0.0
    return values[length - 1 - k]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


WINDOW_FUNCTIONS: dict[str, tuple[str, Callable[[Sequence[float]], float]]] = {
    "이동평균": ("현재가", _mean),
    "최고현재가": ("현재가", max),
    "최저현재가": ("현재가", min),
    "체결강도평균": ("체결강도", lambda xs: round(_mean(xs), 3)),
    "최고체결강도": ("체결강도", max),
    "최저체결강도": ("체결강도", min),
    "최고초당매수수량": ("초당매수수량", max),
    "최고초당매도수량": ("초당매도수량", max),
    "누적초당매수수량": ("초당매수수량", sum),
    "누적초당매도수량": ("초당매도수량", sum),
    "초당거래대금평균": ("초당거래대금", lambda xs: float(int(_mean(xs)))),
}
"""name -> (the row field it reads, the aggregate over the window's values)."""

ANGLE_FIELDS = {"등락율각도": "등락율", "당일거래대금각도": "당일거래대금"}


def window(
    name: str,
    columns: dict[str, list[float]],
    n: int,
    pre: int,
    buy_row: int | None,
    market: str,
) -> float:
    """The window function ``name`` over ``columns`` (one list per field, one value per row)."""
    n, pre = int(n), int(pre)
    if name in ANGLE_FIELDS:
        values = columns[ANGLE_FIELDS[name]]
        bounds = window_bounds(len(values), n, pre, buy_row)
        if bounds is None:
            return 0.0
        first, last = bounds
        delta = values[last] - values[first]
        return round(math.degrees(math.atan2(ANGLE_SCALE[name][market] * delta, n)), 2)
    field, aggregate = WINDOW_FUNCTIONS[name]
    values = columns[field]
    bounds = window_bounds(len(values), n, pre, buy_row)
    if bounds is None:
        return 0.0
    first, last = bounds
    return float(aggregate(values[first : last + 1]))
