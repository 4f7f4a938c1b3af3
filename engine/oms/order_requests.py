"""Command arguments to validated order requests: bad input is refused here, with the field.

Nothing is created or journaled for a request that fails here (only the command's audit record):
a request must name a known instrument, a side, a type, a positive quantity (or notional) that fits
the instrument's size precision and lot, and a limit price on the tick grid. Business limits
(notional, exposure, rate, balance …) are risk's job and end in a journaled denial instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.domain.fixed_point import PrecisionError, to_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import OrderSide, OrderType, TimeInForce
from engine.market_state import MarketState

_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,36}$")


class BadRequest(ValueError):
    """A request that cannot become an order; the message names the field and the value."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    instrument: Instrument
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity_raw: int
    price_raw: int
    client_order_id: str | None = None
    strategy_id: str = "manual"


def _text(args: Mapping[str, Any], field: str, *, required: bool = True) -> str | None:
    value = args.get(field)
    if value is None:
        if required:
            raise BadRequest(f"missing field {field!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"field {field!r} must be text, got {value!r}")
    return str(value).strip()


def _choice(args: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str) -> str:
    value = args.get(field, default)
    if not isinstance(value, str) or value.lower() not in choices:
        raise BadRequest(f"{field} must be one of {', '.join(choices)}; got {value!r}")
    return value.lower()


def instrument_of(market: MarketState, value: object) -> Instrument:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"field 'instrument' must be an instrument id, got {value!r}")
    state = market.get(value)  # type: ignore[arg-type]
    if state is None:
        known = ", ".join(str(instrument.id) for instrument in market.instruments())
        raise BadRequest(f"unknown instrument {value!r}; this engine trades: {known}")
    return state.instrument


def client_order_id_of(args: Mapping[str, Any], field: str = "client_order_id") -> str | None:
    value = args.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_ORDER_ID.match(value):
        raise BadRequest(f"{field} must be 1-36 of letters, digits, '_' or '-'; got {value!r}")
    return value


def positive_raw(text: str, precision: int, field: str, instrument: Instrument) -> int:
    try:
        raw = to_raw(text, precision)
    except PrecisionError as exc:
        raise BadRequest(f"{field} {text!r} for {instrument.id}: {exc}") from None
    if raw <= 0:
        raise BadRequest(f"{field} must be positive, got {text!r}")
    return raw


def price_raw_of(text: str, instrument: Instrument, field: str = "price") -> int:
    raw = positive_raw(text, instrument.price_precision, field, instrument)
    if not instrument.tick_table.is_on_grid(raw):
        tick = instrument.format_price(instrument.tick_table.tick_at(raw))
        below = instrument.format_price(instrument.tick_table.round_down(raw))
        above = instrument.format_price(instrument.tick_table.round_up(raw))
        raise BadRequest(
            f"{field} {text} is off the tick grid of {instrument.id} (tick {tick} there; "
            f"nearest valid prices {below} and {above})"
        )
    return raw


def quantity_raw_of(text: str, instrument: Instrument, field: str = "quantity") -> int:
    raw = positive_raw(text, instrument.size_precision, field, instrument)
    if raw % instrument.lot_size_raw:
        lot = instrument.format_size(instrument.lot_size_raw)
        raise BadRequest(f"{field} {text} is not a multiple of the lot {lot} of {instrument.id}")
    return raw


def parse_order_request(args: Mapping[str, Any], market: MarketState) -> OrderRequest:
    """Validate ``order.submit`` arguments (see docs/trading-core.md)."""
    instrument = instrument_of(market, args.get("instrument"))
    side = OrderSide(_choice(args, "side", ("buy", "sell"), ""))
    order_type = OrderType(_choice(args, "type", ("limit", "market"), "limit"))
    default_tif = "gtc" if order_type is OrderType.LIMIT else "ioc"
    tif = TimeInForce(_choice(args, "tif", ("gtc", "ioc", "fok"), default_tif))
    if order_type is OrderType.MARKET and tif is TimeInForce.GTC:
        raise BadRequest("a market order cannot rest: tif must be ioc or fok")
    price_text = _text(args, "price", required=False)
    if order_type is OrderType.LIMIT:
        if price_text is None:
            raise BadRequest("a limit order needs a 'price'")
        price_raw = price_raw_of(price_text, instrument)
    elif price_text is not None:
        raise BadRequest("a market order takes no 'price' (use a limit order with tif ioc)")
    else:
        price_raw = 0
    quantity_text = _text(args, "quantity", required=False)
    notional_text = _text(args, "notional", required=False)
    if (quantity_text is None) == (notional_text is None):
        raise BadRequest("give exactly one of 'quantity' or 'notional'")
    if quantity_text is not None:
        quantity_raw = quantity_raw_of(quantity_text, instrument)
    else:
        assert notional_text is not None
        quantity_raw = _quantity_for_notional(
            notional_text, instrument, price_raw or _best_opposite(market, instrument, side)
        )
    strategy = args.get("strategy_id", "manual")
    if not isinstance(strategy, str) or not strategy:
        raise BadRequest(f"strategy_id must be text, got {strategy!r}")
    return OrderRequest(
        instrument=instrument,
        side=side,
        order_type=order_type,
        time_in_force=tif,
        quantity_raw=quantity_raw,
        price_raw=price_raw,
        client_order_id=client_order_id_of(args),
        strategy_id=strategy,
    )


def _best_opposite(market: MarketState, instrument: Instrument, side: OrderSide) -> int:
    state = market.get(instrument.id)
    price = 0 if state is None else state.best_ask if side is OrderSide.BUY else state.best_bid
    if not price:
        raise BadRequest(
            f"cannot size a notional market order on {instrument.id}: the book is empty"
        )
    return price


def _quantity_for_notional(text: str, instrument: Instrument, price_raw: int) -> int:
    scale = instrument.price_precision + instrument.size_precision
    notional_raw = positive_raw(text, scale, "notional", instrument)
    lot = instrument.lot_size_raw
    quantity_raw = notional_raw // price_raw // lot * lot
    if quantity_raw <= 0:
        raise BadRequest(
            f"notional {text} buys less than one lot of {instrument.id} at "
            f"{instrument.format_price(price_raw)}"
        )
    return quantity_raw
