"""Binance's symbol filters, checked before an order is sent (Binance's "Filters" documentation).

Tick, lot and the minimum notional are instrument rules the engine checks for every venue. The
filters here are Binance's own, and an order that breaks one would only come back as ``-1013
Filter failure: …`` after costing request weight and an order-count slot:

- ``PERCENT_PRICE_BY_SIDE``: a limit price within the side's multipliers of the weighted average
  price of the last ``avgPriceMins`` minutes (``GET /api/v3/avgPrice``): a buy between
  ``bidMultiplierDown`` and ``bidMultiplierUp`` times it, a sell between ``askMultiplierDown`` and
  ``askMultiplierUp``. (The older ``PERCENT_PRICE`` has one pair for both sides.)
- ``MARKET_LOT_SIZE``: a market order's quantity within ``minQty``..``maxQty`` on its
  ``stepSize`` (each rule disabled at 0).
- ``LOT_SIZE`` ``maxQty`` for limit orders.
- ``NOTIONAL``: price x quantity at most ``maxNotional`` (a market order only when
  ``applyMaxToMarket``, valued at the average price). Its ``minNotional`` is the instrument's
  minimum notional, which the engine's risk checks for every venue.
- ``MAX_NUM_ORDERS``: open orders on the symbol, this one included, at most ``maxNumOrders``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

FILTER_FAILURE = "-1013"
"""Binance's code for a filter failure (its message: ``Filter failure: <NAME>``)."""


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The filters of one symbol that the engine's instrument rules do not cover."""

    bid_up: Decimal = Decimal(0)
    bid_down: Decimal = Decimal(0)
    ask_up: Decimal = Decimal(0)
    ask_down: Decimal = Decimal(0)
    """PERCENT_PRICE(_BY_SIDE) multipliers; 0: no such filter."""
    lot_max: Decimal = Decimal(0)
    market_min: Decimal = Decimal(0)
    market_max: Decimal = Decimal(0)
    market_step: Decimal = Decimal(0)
    max_notional: Decimal = Decimal(0)
    apply_max_to_market: bool = False
    max_num_orders: int = 0

    @classmethod
    def from_symbol_info(cls, info: dict[str, Any]) -> SymbolFilters:
        """From one ``exchangeInfo`` ``symbols[]`` entry."""
        filters = {f.get("filterType"): f for f in info.get("filters", []) if isinstance(f, dict)}
        by_side = filters.get("PERCENT_PRICE_BY_SIDE")
        both = filters.get("PERCENT_PRICE") or {}
        lot = filters.get("LOT_SIZE") or {}
        market = filters.get("MARKET_LOT_SIZE") or {}
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        orders = filters.get("MAX_NUM_ORDERS") or {}
        return cls(
            bid_up=_decimal((by_side or {}).get("bidMultiplierUp", both.get("multiplierUp", 0))),
            bid_down=_decimal(
                (by_side or {}).get("bidMultiplierDown", both.get("multiplierDown", 0))
            ),
            ask_up=_decimal((by_side or {}).get("askMultiplierUp", both.get("multiplierUp", 0))),
            ask_down=_decimal(
                (by_side or {}).get("askMultiplierDown", both.get("multiplierDown", 0))
            ),
            lot_max=_decimal(lot.get("maxQty", 0)),
            market_min=_decimal(market.get("minQty", 0)),
            market_max=_decimal(market.get("maxQty", 0)),
            market_step=_decimal(market.get("stepSize", 0)),
            max_notional=_decimal(notional.get("maxNotional", 0)),
            apply_max_to_market=bool(notional.get("applyMaxToMarket", False)),
            max_num_orders=int(_decimal(orders.get("maxNumOrders", orders.get("limit", 0)))),
        )

    def needs_average_price(self, market: bool) -> bool:
        """True when checking an order needs the symbol's average price."""
        if market:
            return self.apply_max_to_market and self.max_notional > 0
        return bool(self.bid_up or self.bid_down or self.ask_up or self.ask_down)

    def refusal(
        self,
        *,
        buy: bool,
        market: bool,
        price: Decimal,
        quantity: Decimal,
        average_price: Decimal | None,
    ) -> str | None:
        """``Filter failure: NAME (why)`` for the first filter the order breaks, or None.

        ``price`` is the limit price (ignored for a market order); ``average_price`` is Binance's
        average price (needed where :meth:`needs_average_price` says so)."""
        if market:
            return self._market_lot(quantity) or self._notional(quantity, average_price, True)
        if self.lot_max and quantity > self.lot_max:
            return f"Filter failure: LOT_SIZE (quantity {quantity} above maxQty {self.lot_max})"
        return self._percent_price(buy, price, average_price) or self._notional(
            quantity, price, False
        )

    def open_orders_refusal(self, open_orders: int) -> str | None:
        """The MAX_NUM_ORDERS failure for one more order when ``open_orders`` are open."""
        if self.max_num_orders and open_orders + 1 > self.max_num_orders:
            return (
                f"Filter failure: MAX_NUM_ORDERS ({open_orders} orders open on the symbol, at most "
                f"{self.max_num_orders})"
            )
        return None

    def _market_lot(self, quantity: Decimal) -> str | None:
        if self.market_min and quantity < self.market_min:
            why = f"quantity {quantity} below minQty {self.market_min}"
        elif self.market_max and quantity > self.market_max:
            why = f"quantity {quantity} above maxQty {self.market_max}"
        elif self.market_step and (quantity - self.market_min) % self.market_step:
            why = f"quantity {quantity} not on stepSize {self.market_step}"
        else:
            return None
        return f"Filter failure: MARKET_LOT_SIZE ({why})"

    def _percent_price(self, buy: bool, price: Decimal, average: Decimal | None) -> str | None:
        up, down = (self.bid_up, self.bid_down) if buy else (self.ask_up, self.ask_down)
        if average is None or average <= 0 or not (up or down):
            return None
        if (up and price > average * up) or (down and price < average * down):
            side = "buy" if buy else "sell"
            return (
                f"Filter failure: PERCENT_PRICE_BY_SIDE ({side} price {price} outside "
                f"{average * down}..{average * up}, {down}..{up} x the average price {average})"
            )
        return None

    def _notional(self, quantity: Decimal, price: Decimal | None, market: bool) -> str | None:
        if price is None or price <= 0:
            return None
        value = price * quantity
        applies_max = not market or self.apply_max_to_market
        if self.max_notional and applies_max and value > self.max_notional:
            why = f"value {value} above maxNotional {self.max_notional}"
            return f"Filter failure: NOTIONAL ({why})"
        return None
