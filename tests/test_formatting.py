"""Numbers formatted once: money per currency, prices and sizes per instrument precision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.protocol.payloads import InstrumentInfo
from stom_tui.formatting import (
    MISSING,
    currency_places,
    format_amount,
    format_price,
    format_size,
)


def _info(price_precision: int, size_precision: int) -> InstrumentInfo:
    return InstrumentInfo(
        id="X.SIM",
        name="X",
        kind="crypto",
        venue="SIM",
        base_currency="BTC",
        quote_currency="KRW",
        price_precision=price_precision,
        size_precision=size_precision,
        tick_bands=[("0", "1")],
        lot_size="0.00000001",
        min_notional="5000",
        maker_fee="0.0005",
        taker_fee="0.0005",
    )


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("0.001", "BTC", "0.001"),  # "BTC 0" was the bug: a coin keeps its digits
        ("0.00000001", "BTC", "0.00000001"),
        ("1.50000000", "ETH", "1.5"),
        ("99000000.12345678", "KRW", "99,000,000"),  # never KRW with 8 decimals
        ("9412350.5", "KRW", "9,412,350"),  # half-even
        ("9412351.5", "KRW", "9,412,352"),
        ("0.4", "KRW", "0.4"),  # a non-zero amount is never shown as 0
        ("12.5", "USDT", "12.50"),
        ("0.004", "USDT", "0.004"),
        ("-0.00000000", "KRW", "0"),  # never "-0"
        ("not a number", "KRW", MISSING),
        (None, "KRW", MISSING),
    ],
)
def test_amounts_follow_their_currency(value: str | None, currency: str, shown: str) -> None:
    assert format_amount(value, currency) == shown


def test_signed_amounts_and_decimal_inputs() -> None:
    assert format_amount("1500", "KRW", signed=True) == "+1,500"
    assert format_amount("-301250.4", "KRW", signed=True) == "-301,250"
    assert format_amount("0", "KRW", signed=True) == "0"
    assert format_amount(Decimal("2.345"), "usdt") == "2.34"  # currency case does not matter


def test_currency_places() -> None:
    assert currency_places("KRW") == 0
    assert currency_places("USDT") == 2
    assert currency_places("BTC") == 8


def test_prices_follow_the_instrument_precision() -> None:
    krw = _info(price_precision=0, size_precision=8)
    usdt = _info(price_precision=2, size_precision=5)
    assert format_price("143250000", krw) == "143,250,000"
    assert format_price("143250000.4567", krw) == "143,250,000"  # an average, rounded
    assert format_price("43250.1", usdt) == "43,250.10"  # padded to the grid's decimals
    assert format_price("43250.125", usdt) == "43,250.12"
    assert format_price("43250.1", None) == "43,250.1"  # no instrument: as sent
    assert format_price(None, usdt) == MISSING


def test_sizes_follow_the_instrument_precision() -> None:
    btc = _info(price_precision=0, size_precision=8)
    stock = _info(price_precision=0, size_precision=0)
    assert format_size("0.00100000", btc) == "0.001"
    assert format_size("0.123456789", btc) == "0.12345679"
    assert format_size("10", stock) == "10"
    assert format_size("-0.5", None) == "-0.5"
