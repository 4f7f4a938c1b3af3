"""Scaled-integer conversions: exact both ways, strict about precision, signs kept."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.fixed_point import PrecisionError, format_raw, from_raw, raw_to_float, to_raw

precisions = st.integers(min_value=0, max_value=18)
raws = st.integers(min_value=-(10**40), max_value=10**40)


@given(raw=raws, precision=precisions)
def test_format_then_parse_returns_the_raw_value(raw: int, precision: int) -> None:
    assert to_raw(format_raw(raw, precision), precision) == raw


@given(raw=raws, precision=precisions)
def test_from_raw_is_exact_and_matches_the_text(raw: int, precision: int) -> None:
    value = from_raw(raw, precision)
    assert value == Decimal(format_raw(raw, precision))
    assert to_raw(value, precision) == raw
    assert value.as_tuple().exponent == -precision or raw == 0


@given(raw=raws, precision=precisions)
def test_format_has_exactly_precision_places(raw: int, precision: int) -> None:
    text = format_raw(raw, precision)
    if precision == 0:
        assert "." not in text
    else:
        assert len(text.partition(".")[2]) == precision
    assert text.startswith("-") == (raw < 0)


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=4),
    extra=st.integers(min_value=0, max_value=6),
)
def test_values_with_few_enough_places_convert(value: Decimal, extra: int) -> None:
    precision = 4 + extra
    with localcontext() as exact:
        exact.prec = 200
        expected = int(value * 10**precision)
    assert to_raw(value, precision) == expected
    assert to_raw(str(value), precision) == to_raw(value, precision)


@given(raw=st.integers(min_value=1, max_value=10**30), precision=precisions)
def test_one_place_too_many_is_refused(raw: int, precision: int) -> None:
    # raw*10 + 1 at precision+1 always has a non-zero last decimal place.
    text = format_raw(raw * 10 + 1, precision + 1)
    with pytest.raises(PrecisionError):
        to_raw(text, precision)


def test_examples() -> None:
    assert to_raw("123.45", 2) == 12345
    assert to_raw(" 1.50 ", 1) == 15
    assert to_raw("1.500000", 2) == 150
    assert to_raw(7, 3) == 7000
    assert to_raw(Decimal("0.00000001"), 8) == 1
    assert to_raw("1E+3", 0) == 1000
    assert format_raw(12345, 2) == "123.45"
    assert format_raw(5, 8) == "0.00000005"
    assert format_raw(103_493_000, 0) == "103493000"
    assert from_raw(12345, 2) == Decimal("123.45")


def test_negative_values() -> None:
    assert to_raw("-1.25", 2) == -125
    assert format_raw(-125, 2) == "-1.25"
    assert format_raw(-5, 2) == "-0.05"
    assert from_raw(-5, 2) == Decimal("-0.05")
    assert to_raw("-0", 2) == 0
    assert format_raw(0, 3) == "0.000"


@pytest.mark.parametrize("bad", ["abc", "", "1.2.3", "NaN", "Infinity", "-inf", "1,000"])
def test_non_numbers_are_refused(bad: str) -> None:
    with pytest.raises(PrecisionError):
        to_raw(bad, 2)


def test_too_many_places_is_refused_and_is_a_value_error() -> None:
    with pytest.raises(PrecisionError, match="more than 2 decimal places"):
        to_raw("1.005", 2)
    with pytest.raises(ValueError):
        to_raw("0.5", 0)


def test_long_values_are_never_rounded_into_range() -> None:
    # More significant digits than the default decimal context (28) keeps.
    with pytest.raises(PrecisionError):
        to_raw("1.00000000000000000000000000001", 0)
    assert to_raw("123456789012345678901234567890123", 0) == 123456789012345678901234567890123
    assert from_raw(12345678901234567890123456789012, 3) == Decimal(
        "12345678901234567890123456789.012"
    )


def test_raw_to_float_is_for_display() -> None:
    assert raw_to_float(12345, 2) == pytest.approx(123.45)
    assert raw_to_float(-1, 8) == pytest.approx(-1e-8)


def test_floor_raw_rounds_down_never_up() -> None:
    from decimal import Decimal

    from engine.domain.fixed_point import floor_raw

    assert floor_raw(Decimal("1.239"), 2) == 123
    assert floor_raw(Decimal("-1.231"), 2) == -124
    assert floor_raw(Decimal("5000"), 0) == 5000
