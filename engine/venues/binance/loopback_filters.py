"""The loopback server's Binance filters beyond tick, lot and minimum notional, as Binance's
"Filters" documentation states them: ``PERCENT_PRICE_BY_SIDE`` against the symbol's average price
(``GET /api/v3/avgPrice``: the volume-weighted price of the last ``avgPriceMins`` minutes' trades,
else the last trade's), ``MARKET_LOT_SIZE``'s ``maxQty``, ``NOTIONAL``'s ``maxNotional`` and
``MAX_NUM_ORDERS``. Tests tighten :class:`FilterRules` to make orders break them.

All amounts are e8 integers (:mod:`engine.venues.binance.loopback_market`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.domain.market_data import ASK, BID
from engine.venues.binance.loopback_market import E8, SymbolBook, e8_text


@dataclass(slots=True)
class FilterRules:
    """One set of rules for every symbol the server serves (real BTCUSDT-like defaults)."""

    bid_up: Decimal = Decimal(5)
    bid_down: Decimal = Decimal("0.2")
    ask_up: Decimal = Decimal(5)
    ask_down: Decimal = Decimal("0.2")
    avg_price_mins: int = 5
    market_max_qty_e8: int = 9_000 * E8
    max_notional_e8: int = 9_000_000 * E8
    apply_max_to_market: bool = False
    max_num_orders: int = 200


def average_price_e8(book: SymbolBook, now_ms: int, minutes: int) -> int:
    """The volume-weighted price of the last ``minutes`` minutes' trades (the last trade's price
    when none is that recent; the mid of the book when there has been no trade)."""
    since = now_ms - minutes * 60_000
    value = volume = 0
    for trade in book.trades:
        if trade.time_ms >= since:
            value += trade.price * trade.qty
            volume += trade.qty
    if volume:
        return value // volume
    if book.trades:
        return book.trades[-1].price
    bids, asks = book.sim_levels(BID), book.sim_levels(ASK)
    return (bids[0][0] + asks[0][0]) // 2 if bids and asks else 0


def avg_price_json(book: SymbolBook, rules: FilterRules, now_ms: int) -> dict[str, Any]:
    price = average_price_e8(book, now_ms, rules.avg_price_mins)
    return {"mins": rules.avg_price_mins, "price": e8_text(price), "closeTime": now_ms}


def filters_json(rules: FilterRules) -> list[dict[str, Any]]:
    """The exchangeInfo entries of these filters."""
    return [
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": str(rules.bid_up),
            "bidMultiplierDown": str(rules.bid_down),
            "askMultiplierUp": str(rules.ask_up),
            "askMultiplierDown": str(rules.ask_down),
            "avgPriceMins": rules.avg_price_mins,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": rules.max_num_orders},
    ]


def broken_filter(
    rules: FilterRules,
    book: SymbolBook,
    *,
    buy: bool,
    market: bool,
    price: int,
    qty: int,
    open_orders: int,
    now_ms: int,
) -> str | None:
    """The name of the first of these filters the order breaks, or None."""
    if open_orders + 1 > rules.max_num_orders:
        return "MAX_NUM_ORDERS"
    if market:
        if qty > rules.market_max_qty_e8:
            return "MARKET_LOT_SIZE"
        if not rules.apply_max_to_market:
            return None
        price = average_price_e8(book, now_ms, rules.avg_price_mins)
    else:
        average = Decimal(average_price_e8(book, now_ms, rules.avg_price_mins))
        up, down = (rules.bid_up, rules.bid_down) if buy else (rules.ask_up, rules.ask_down)
        if average and (price > average * up or price < average * down):
            return "PERCENT_PRICE_BY_SIDE"
    if price * qty > rules.max_notional_e8 * E8:
        return "NOTIONAL"
    return None
