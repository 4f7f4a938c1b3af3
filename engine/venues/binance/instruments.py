"""Instrument rules from ``GET /api/v3/exchangeInfo`` (protocols.md §B.2, §B.4).

Precisions come from the filters: ``PRICE_FILTER.tickSize`` gives the price precision and the
(flat) tick, ``LOT_SIZE.stepSize`` the lot, ``baseAssetPrecision`` the size precision (what a
balance can hold), ``NOTIONAL.minNotional`` (or the legacy ``MIN_NOTIONAL``) the minimum order
value. exchangeInfo carries no fees; the standard spot rate (0.1 %) is the default until
``/api/v3/account`` says otherwise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.domain.fixed_point import to_raw
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.tick_table import TickTable

VENUE = "BINANCE"
STANDARD_FEE = Decimal("0.001")


class InstrumentRulesError(ValueError):
    """exchangeInfo did not describe a symbol the way STOM needs (named in the message)."""


def places(step: Decimal) -> int:
    """Decimal places of a step: ``0.01000000 -> 2``, ``1.00000000 -> 0``."""
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def instrument_from_symbol_info(info: dict[str, Any], fee: Decimal = STANDARD_FEE) -> Instrument:
    """One exchangeInfo ``symbols[]`` entry as an :class:`Instrument` (id ``SYMBOL.BINANCE``)."""
    symbol = str(info.get("symbol", ""))
    filters = {f.get("filterType"): f for f in info.get("filters", []) if isinstance(f, dict)}
    try:
        tick = Decimal(filters["PRICE_FILTER"]["tickSize"])
        step = Decimal(filters["LOT_SIZE"]["stepSize"])
    except (KeyError, ArithmeticError) as exc:
        raise InstrumentRulesError(
            f"exchangeInfo for {symbol}: PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing or "
            f"not a number ({exc!r})"
        ) from None
    if tick <= 0 or step <= 0:
        raise InstrumentRulesError(
            f"exchangeInfo for {symbol}: tickSize {tick} and stepSize {step} must be positive"
        )
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    price_precision = places(tick)
    # Sizes at the base asset's own precision, not the lot's: a base-asset commission leaves
    # holdings off the lot grid (0.01234 BTC bought, 0.01232766 BTC held), and the position must
    # say exactly what the account holds. The lot (stepSize) still sets order sizes.
    size_precision = max(places(step), _int(info.get("baseAssetPrecision"), 0))
    return Instrument(
        id=InstrumentId.of(symbol, VENUE),
        name=f"{info.get('baseAsset', symbol)}/{info.get('quoteAsset', '')}",
        kind="crypto",
        base_currency=str(info.get("baseAsset", "")),
        quote_currency=str(info.get("quoteAsset", "")),
        price_precision=price_precision,
        size_precision=size_precision,
        tick_table=TickTable.flat(to_raw(tick, price_precision)),
        lot_size_raw=to_raw(step, size_precision),
        min_notional=Decimal(str(notional.get("minNotional", "0"))).normalize(),
        maker_fee=fee,
        taker_fee=fee,
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def instruments_from_exchange_info(
    exchange_info: dict[str, Any], symbols: list[str]
) -> list[Instrument]:
    """Instruments for ``symbols`` in that order; unknown or non-trading symbols are refused."""
    by_symbol = {
        str(entry.get("symbol")): entry
        for entry in exchange_info.get("symbols", [])
        if isinstance(entry, dict)
    }
    result = []
    for symbol in symbols:
        info = by_symbol.get(symbol)
        if info is None:
            raise InstrumentRulesError(f"Binance does not list symbol {symbol!r}")
        if info.get("status") != "TRADING":
            raise InstrumentRulesError(
                f"Binance symbol {symbol} is not trading (status {info.get('status')!r})"
            )
        result.append(instrument_from_symbol_info(info))
    return result
