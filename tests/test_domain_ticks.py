"""Tick tables: rounding, stepping across bands and grid checks (protocols.md §A.7, §D)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.fixed_point import to_raw
from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS, OffGridError, TickTable

TABLES = {
    "krx/0": (TickTable.from_decimal(KRX_STOCK_BANDS, 0), 2_000_000),
    "krx/2": (TickTable.from_decimal(KRX_STOCK_BANDS, 2), 2_000_000),
    "upbit/0": (TickTable.from_decimal(UPBIT_KRW_BANDS, 0), 300_000_000),
    "upbit/2": (TickTable.from_decimal(UPBIT_KRW_BANDS, 2), 300_000_000),
    "upbit/5": (TickTable.from_decimal(UPBIT_KRW_BANDS, 5), 3_000_000),
    "upbit/8": (TickTable.from_decimal(UPBIT_KRW_BANDS, 8), 300_000_000),
}


@st.composite
def table_and_price(draw: st.DrawFn) -> tuple[TickTable, int]:
    """A table and a raw price anywhere from below its minimum to high above its top band."""
    name = draw(st.sampled_from(sorted(TABLES)))
    table, top_value = TABLES[name]
    precision = int(name.partition("/")[2])
    top = top_value * 10**precision
    # Prices spread over all magnitudes, so every band is exercised.
    digits = draw(st.integers(min_value=0, max_value=len(str(top)) - 1))
    price = draw(st.integers(min_value=0, max_value=min(top, 10 ** (digits + 1))))
    return table, price


@st.composite
def table_and_grid_price(draw: st.DrawFn) -> tuple[TickTable, int]:
    table, price = draw(table_and_price())
    return table, table.round_down(price)


@given(table_and_price())
def test_rounding_lands_on_grid_and_brackets_the_price(case: tuple[TickTable, int]) -> None:
    table, price = case
    down, up = table.round_down(price), table.round_up(price)
    assert table.is_on_grid(down)
    assert table.is_on_grid(up)
    if price >= table.min_price_raw:
        assert down <= price <= up
        assert (down == up) == table.is_on_grid(price)
        if down != up:
            assert table.step_up(down) == up  # no grid price strictly between
    else:
        assert down == up == table.min_price_raw


@given(table_and_grid_price())
def test_step_up_then_down_returns_to_the_price(case: tuple[TickTable, int]) -> None:
    table, price = case
    up = table.step_up(price)
    assert up > price
    assert table.is_on_grid(up)
    assert up - price == table.tick_at(price)
    assert table.step_down(up) == price


@given(table_and_grid_price())
def test_step_down_then_up_returns_to_the_price(case: tuple[TickTable, int]) -> None:
    table, price = case
    down = table.step_down(price)
    assert table.is_on_grid(down)
    if price == table.min_price_raw:
        assert down == price
    else:
        assert down < price
        assert table.step_up(down) == price


@given(table_and_grid_price(), st.integers(min_value=0, max_value=30))
def test_many_steps_equal_single_steps(case: tuple[TickTable, int], steps: int) -> None:
    table, price = case
    single = price
    for _ in range(steps):
        single = table.step_up(single)
    assert table.step_up(price, steps) == single
    back = single
    for _ in range(steps):
        back = table.step_down(back)
    assert table.step_down(single, steps) == back == price


KRX = TABLES["krx/0"][0]
UPBIT = TABLES["upbit/0"][0]


@pytest.mark.parametrize(
    ("price", "up"),
    [
        (1999, 2000),
        (2000, 2005),
        (4995, 5000),
        (5000, 5010),
        (19990, 20000),
        (49950, 50000),
        (50000, 50100),
        (199900, 200000),
        (200000, 200500),
        (499500, 500000),
        (500000, 501000),
    ],
)
def test_krx_steps_cross_bands(price: int, up: int) -> None:
    assert KRX.step_up(price) == up
    assert KRX.step_down(up) == price


def test_krx_examples() -> None:
    assert KRX.step_down(2000) == 1999
    assert not KRX.is_on_grid(2003)
    assert KRX.is_on_grid(2005)
    assert KRX.round_down(2003) == 2000
    assert KRX.round_up(2003) == 2005
    assert KRX.tick_at(70_000) == 100
    assert KRX.tick_at(200_000) == 500
    assert KRX.step_up(1999, 3) == 2010
    assert KRX.min_price_raw == 1
    assert KRX.step_down(1) == 1
    with pytest.raises(OffGridError, match="tick 5"):
        KRX.check(2003)


def test_upbit_examples() -> None:
    assert UPBIT.tick_at(103_493_000) == 1000
    assert UPBIT.is_on_grid(103_493_000)
    assert not UPBIT.is_on_grid(103_493_500)
    assert UPBIT.step_up(999_500) == 1_000_000
    assert UPBIT.step_down(1_000_000) == 999_500
    assert UPBIT.step_up(4_999) == 5_000
    assert UPBIT.step_up(5_000) == 5_005
    # At precision 0 the bands below 100 KRW are not representable: 100 is the lowest price.
    assert UPBIT.min_price_raw == 100
    assert not UPBIT.is_on_grid(99)
    assert UPBIT.round_down(50) == 100


def test_upbit_fine_bands_at_precision_8() -> None:
    table = TABLES["upbit/8"][0]
    assert table.tick_at(to_raw("0.5", 8)) == to_raw("0.001", 8)
    assert table.tick_at(to_raw("50", 8)) == to_raw("0.1", 8)
    assert table.step_up(to_raw("9.99", 8)) == to_raw("10", 8)
    assert table.step_up(to_raw("10", 8)) == to_raw("10.1", 8)
    assert table.step_down(to_raw("10", 8)) == to_raw("9.99", 8)
    assert table.is_on_grid(to_raw("0.00000123", 8))  # below 0.00001 the tick is 0.00000001
    assert table.is_on_grid(to_raw("0.0000123", 8))
    assert not table.is_on_grid(to_raw("0.00001234", 8))  # tick 0.0000001 from 0.00001
    assert table.min_price_raw == 1


def test_flat_table() -> None:
    table = TickTable.flat(5)
    assert table.min_price_raw == 5
    assert table.step_up(5) == 10
    assert not table.is_on_grid(0)


@pytest.mark.parametrize(
    "bands",
    [[], [(0, 1), (0, 5)], [(100, 1), (50, 5)], [(0, 0)], [(0, 1), (10, -1)]],
)
def test_invalid_tables_are_refused(bands: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError):
        TickTable(bands)


def test_a_precision_too_coarse_for_every_band_is_refused() -> None:
    with pytest.raises(ValueError, match="precision"):
        TickTable.from_decimal((("0", "0.001"),), 2)
