"""Upbit KRW market rules: instruments from the venue's own answers (protocols.md §A.2, §A.7).

The tick grid is the published KRW table, with the band that holds today's price replaced by the
tick ``GET /v1/orderbook/instruments`` reports for that market (the venue is authoritative: it
has had per-market exceptions such as USDT's 0.5 KRW). The price precision is chosen so that every
tick down to a tenth of today's price is representable, so a crash does not put prices off the
engine's grid. Sizes have 8 decimal places (Upbit's volume precision); minimum order 5,000 KRW;
fee 0.05 % maker and taker.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.tick_table import UPBIT_KRW_BANDS, TickTable

VENUE = "UPBIT"
SIZE_PRECISION = 8
MIN_ORDER_KRW = Decimal(5000)
KRW_FEE = Decimal("0.0005")
PRECISION_HEADROOM = 10
"""Prices down to today's price / this factor stay on a representable tick."""

_MARKET_RE = re.compile(r"^KRW-[A-Z0-9]{1,15}$")


class UnsupportedSymbol(ValueError):
    """A symbol that is not an Upbit KRW market code (``KRW-BTC``)."""


def check_symbols(symbols: list[str]) -> None:
    """Raise :class:`UnsupportedSymbol` naming every symbol that is not ``KRW-<COIN>``."""
    bad = [symbol for symbol in symbols if not _MARKET_RE.match(symbol)]
    if bad:
        raise UnsupportedSymbol(
            f"Upbit symbols must be KRW markets such as 'KRW-BTC' (upper case); got {bad}"
        )


def check_listed(symbols: list[str], markets: list[dict[str, Any]]) -> None:
    """Raise :class:`UnsupportedSymbol` naming the symbols ``market/all`` does not list."""
    listed = {str(item.get("market")) for item in markets}
    unknown = [symbol for symbol in symbols if symbol not in listed]
    if unknown:
        raise UnsupportedSymbol(f"Upbit does not list the market(s) {unknown}")


def instrument_id(symbol: str) -> InstrumentId:
    return InstrumentId.of(symbol, VENUE)


def _tick_at(bands: tuple[tuple[str, str], ...], price: Decimal) -> tuple[int, Decimal]:
    position = 0
    for candidate, (lower, _) in enumerate(bands):
        if Decimal(lower) <= price:
            position = candidate
    return position, Decimal(bands[position][1])


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def build_instrument(
    symbol: str, name: str, price: Decimal, venue_tick: Decimal | None
) -> Instrument:
    """The :class:`Instrument` for one KRW market at today's ``price``.

    ``venue_tick`` is ``orderbook/instruments``' ``tick_size`` (None: use the published table).
    """
    bands = list(UPBIT_KRW_BANDS)
    position, table_tick = _tick_at(UPBIT_KRW_BANDS, price)
    if venue_tick is not None and venue_tick > 0 and venue_tick != table_tick:
        bands[position] = (bands[position][0], str(venue_tick))
    _, floor_tick = _tick_at(UPBIT_KRW_BANDS, price / PRECISION_HEADROOM)
    precision = max(_decimals(floor_tick), _decimals(venue_tick or table_tick))
    return Instrument(
        id=instrument_id(symbol),
        name=name,
        kind="crypto",
        base_currency=symbol.partition("-")[2],
        quote_currency="KRW",
        price_precision=precision,
        size_precision=SIZE_PRECISION,
        tick_table=TickTable.from_decimal(bands, precision),
        lot_size_raw=1,
        min_notional=MIN_ORDER_KRW,
        maker_fee=KRW_FEE,
        taker_fee=KRW_FEE,
    )


def instruments_from_replies(
    symbols: list[str],
    markets: list[dict[str, Any]],
    tickers: list[dict[str, Any]],
    tick_policies: list[dict[str, Any]],
) -> list[Instrument]:
    """Instruments from ``market/all``, ``ticker`` and ``orderbook/instruments`` replies.

    Raises :class:`UnsupportedSymbol` naming the symbols the venue does not list.
    """
    check_listed(symbols, markets)
    names = {str(item.get("market")): str(item.get("english_name") or "") for item in markets}
    prices = {str(item["market"]): Decimal(str(item["trade_price"])) for item in tickers}
    ticks = {
        str(item["market"]): Decimal(str(item["tick_size"]))
        for item in tick_policies
        if item.get("tick_size") is not None
    }
    missing = [symbol for symbol in symbols if symbol not in prices]
    if missing:
        raise UnsupportedSymbol(f"Upbit returned no ticker for {missing}")
    return [
        build_instrument(symbol, names[symbol] or symbol, prices[symbol], ticks.get(symbol))
        for symbol in symbols
    ]
