"""Command arguments to validated order requests: bad input is refused here, with the field.

Nothing is created or journaled for a request that fails here (only the command's audit record):
a request must name a known instrument, a side, a type, a positive quantity (or notional) that fits
the instrument's size precision and lot, and a limit price on the tick grid. Business limits
(notional, exposure, rate, balance …) are risk's job and end in a journaled denial instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.fixed_point import PrecisionError, to_raw
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.orders import OrderSide, OrderType, TimeInForce
from engine.market_state import MarketState
from engine.protocol.commands import OrderSubmitArgs
from engine.protocol.limits import check_decimal
from engine.risk.protective_exits import EXIT_STRATEGY_ID

ENGINE_ORDER_SOURCES = frozenset({"manual", "kill", EXIT_STRATEGY_ID})
"""``strategy_id`` of the orders the user sends by hand, the kill switch's flatten and the
protective exits: no strategy may take one."""


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


def instrument_of(market: MarketState, value: str) -> Instrument:
    try:
        state = market.get(InstrumentId(value))
    except ValueError:  # not SYMBOL.VENUE: no instrument has that id
        state = None
    if state is None:
        known = ", ".join(str(instrument.id) for instrument in market.instruments())
        raise BadRequest(f"unknown instrument {value!r}; this engine trades: {known}")
    return state.instrument


def positive_raw(text: str, precision: int, field: str, instrument: Instrument) -> int:
    try:
        # Bounded digits and exponent first: Decimal -> int is quadratic in the exponent.
        raw = to_raw(check_decimal(text, field), precision)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
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


def parse_order_request(args: OrderSubmitArgs, market: MarketState) -> OrderRequest:
    """Validate ``order.submit`` arguments against the instrument (see docs/trading-core.md).

    Their types and choices were checked when the command was decoded; what is left needs the
    market: the instrument, the tick grid, the lot, and a price to size a notional by.
    """
    instrument = instrument_of(market, args.instrument)
    side = OrderSide(args.side)
    order_type = OrderType(args.type)
    tif = TimeInForce(args.tif or ("gtc" if order_type is OrderType.LIMIT else "ioc"))
    if order_type is OrderType.MARKET and tif is TimeInForce.GTC:
        raise BadRequest("a market order cannot rest: tif must be ioc or fok")
    if order_type is OrderType.LIMIT:
        if args.price is None:
            raise BadRequest("a limit order needs a 'price'")
        price_raw = price_raw_of(args.price, instrument)
    elif args.price is not None:
        raise BadRequest("a market order takes no 'price' (use a limit order with tif ioc)")
    else:
        price_raw = 0
    if (args.quantity is None) == (args.notional is None):
        raise BadRequest("give exactly one of 'quantity' or 'notional'")
    if args.quantity is not None:
        quantity_raw = quantity_raw_of(args.quantity, instrument)
    else:
        assert args.notional is not None
        quantity_raw = _quantity_for_notional(
            args.notional, instrument, price_raw or _best_opposite(market, instrument, side)
        )
    # No strategy_id from the bus: orders sent as commands are the manual client's.
    return OrderRequest(
        instrument=instrument,
        side=side,
        order_type=order_type,
        time_in_force=tif,
        quantity_raw=quantity_raw,
        price_raw=price_raw,
        client_order_id=args.client_order_id,
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
