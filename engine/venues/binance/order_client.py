"""Signed execution on Binance spot: place, cancel, query, open orders, balances.

Requests go through python-binance (:mod:`engine.venues.binance.rest`: HMAC-SHA256 with the secret
revealed only for the signature, rate-limit gate, clock-offset correction, error mapping). Our
client order id travels as ``newClientOrderId``, so a query by ``origClientOrderId`` finds an order
whose placement answer was lost. ``GET /api/v3/order`` has no executions, so a query of an order
with ``executedQty > 0`` also reads ``GET /api/v3/myTrades?orderId=…`` for its fills.

Fees: Binance charges the commission in the asset received (base on a buy, quote on a sell) or in
BNB. :class:`VenueFill` carries fees in the quote currency at the notional scale, so a base-asset
commission is valued at the fill price; a third-asset (BNB) commission cannot be valued exactly
here and is reported as the instrument's fee rate on the fill's notional.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal
from typing import Any

from engine.config.secrets import Secret
from engine.domain.clock import Clock
from engine.domain.fees import FeeRate
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderSide, OrderType
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
)
from engine.venues.binance.endpoints import DEFAULT_REST_URL
from engine.venues.binance.instruments import VENUE, instruments_from_exchange_info
from engine.venues.binance.rest import BinanceRest
from engine.venues.binance.wire import decimal_to_raw

NS_PER_MS = 1_000_000
_STATUS = {
    "NEW": VenueOrderStatus.OPEN,
    "PENDING_NEW": VenueOrderStatus.OPEN,
    "PARTIALLY_FILLED": VenueOrderStatus.OPEN,
    "FILLED": VenueOrderStatus.FILLED,
    "CANCELED": VenueOrderStatus.CANCELED,
    "PENDING_CANCEL": VenueOrderStatus.CANCELED,
    "EXPIRED": VenueOrderStatus.CANCELED,
    "EXPIRED_IN_MATCH": VenueOrderStatus.CANCELED,
    "REJECTED": VenueOrderStatus.REJECTED,
}


class BinanceOrderClient:
    """Binance spot orders for one account (API key and secret as :class:`Secret`)."""

    venue = VENUE
    rejects_duplicate_ids = True
    """A reused ``newClientOrderId`` is refused (see :class:`~engine.venues.base.OrderClient`)."""

    def __init__(
        self,
        rest_url: str = DEFAULT_REST_URL,
        *,
        api_key: Secret,
        api_secret: Secret,
        clock: Clock | None = None,
        weight_limit: int = 6000,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        self._rest = BinanceRest(
            rest_url,
            api_key=api_key,
            api_secret=api_secret,
            clock=clock,
            weight_limit=weight_limit,
        )
        self._instruments: dict[str, Instrument] = {i.id.symbol: i for i in instruments}

    @property
    def rest(self) -> BinanceRest:
        """The REST session (rate-limit and clock-offset state, for health displays and tests)."""
        return self._rest

    async def place(self, order: Order, instrument: Instrument) -> str:
        """``POST /api/v3/order``; returns Binance's ``orderId`` as text."""
        symbol = instrument.id.symbol
        self._instruments[symbol] = instrument
        params: dict[str, Any] = {
            "symbol": symbol,
            "side": "BUY" if order.side is OrderSide.BUY else "SELL",
            "type": "LIMIT" if order.order_type is OrderType.LIMIT else "MARKET",
            "quantity": instrument.format_size(order.quantity_raw),
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "ACK",
        }
        if order.order_type is OrderType.LIMIT:
            params["price"] = instrument.format_price(order.price_raw)
            params["timeInForce"] = order.time_in_force.value.upper()
        client = self._rest.client
        reply = await self._rest.call(client.create_order, weight=1, signed=True, **params)
        return str(reply["orderId"])

    async def cancel(self, order: Order, venue_order_id: str) -> None:
        """``DELETE /api/v3/order`` (goes even near the rate limit: it reduces risk)."""
        client = self._rest.client
        await self._rest.call(
            client.cancel_order,
            weight=1,
            signed=True,
            reduces_risk=True,
            symbol=InstrumentId(order.instrument_id).symbol,
            **_order_ref(order.client_order_id, venue_order_id),
        )

    async def query(self, order: Order, venue_order_id: str) -> VenueOrderState:
        """``GET /api/v3/order`` (and ``myTrades`` for its fills)."""
        client = self._rest.client
        reply = await self._rest.call(
            client.get_order,
            weight=4,
            signed=True,
            symbol=InstrumentId(order.instrument_id).symbol,
            **_order_ref(order.client_order_id, venue_order_id),
        )
        return await self._state(reply)

    async def open_orders(self) -> list[VenueOrderState]:
        """``GET /api/v3/openOrders`` for every symbol (weight 80)."""
        client = self._rest.client
        replies = await self._rest.call(client.get_open_orders, weight=80, signed=True)
        return [await self._state(reply) for reply in replies]

    async def balances(self) -> list[Balance]:
        """``GET /api/v3/account``: free and locked per asset (zero balances omitted)."""
        client = self._rest.client
        reply = await self._rest.call(
            client.get_account, weight=20, signed=True, omitZeroBalances="true"
        )
        return [
            Balance(str(row["asset"]), Decimal(row["free"]), Decimal(row["locked"]))
            for row in reply.get("balances", [])
        ]

    async def close(self) -> None:
        await self._rest.close()

    # --- internals ----------------------------------------------------------------------------

    async def _instrument(self, symbol: str) -> Instrument:
        instrument = self._instruments.get(symbol)
        if instrument is None:
            info = await self._rest.call(self._rest.client.get_exchange_info, weight=20)
            (instrument,) = instruments_from_exchange_info(info, [symbol])
            self._instruments[symbol] = instrument
        return instrument

    async def _state(self, reply: dict[str, Any]) -> VenueOrderState:
        symbol = str(reply["symbol"])
        instrument = await self._instrument(symbol)
        status = str(reply["status"])
        if status not in _STATUS:
            raise VenueRejected("status", f"Binance order status {status!r} is not known")
        filled_raw = decimal_to_raw(str(reply["executedQty"]), instrument.size_precision)
        fills: tuple[VenueFill, ...] = ()
        if filled_raw:
            fills = await self._fills(instrument, reply)
        return VenueOrderState(
            client_order_id=str(reply["clientOrderId"]),
            venue_order_id=str(reply["orderId"]),
            instrument_id=instrument.id,
            status=_STATUS[status],
            filled_raw=filled_raw,
            fills=fills,
            reason=status.lower() if status in ("EXPIRED", "EXPIRED_IN_MATCH", "REJECTED") else "",
        )

    async def _fills(self, instrument: Instrument, reply: dict[str, Any]) -> tuple[VenueFill, ...]:
        client = self._rest.client
        trades = await self._rest.call(
            client.get_my_trades,
            weight=5,
            signed=True,
            symbol=instrument.id.symbol,
            orderId=reply["orderId"],
        )
        client_order_id = str(reply["clientOrderId"])
        return tuple(_fill(instrument, client_order_id, trade) for trade in trades)


def _order_ref(client_order_id: str, venue_order_id: str) -> dict[str, Any]:
    if venue_order_id:
        return {"orderId": int(venue_order_id)}
    return {"origClientOrderId": client_order_id}


def _fill(instrument: Instrument, client_order_id: str, trade: dict[str, Any]) -> VenueFill:
    price_raw = decimal_to_raw(str(trade["price"]), instrument.price_precision)
    quantity_raw = decimal_to_raw(str(trade["qty"]), instrument.size_precision)
    maker = bool(trade.get("isMaker"))
    return VenueFill(
        trade_id=str(trade["id"]),
        client_order_id=client_order_id,
        price_raw=price_raw,
        quantity_raw=quantity_raw,
        fee_raw=_fee_raw(instrument, trade, price_raw * quantity_raw, maker),
        liquidity="maker" if maker else "taker",
        ts=int(trade["time"]) * NS_PER_MS,
    )


def _fee_raw(instrument: Instrument, trade: dict[str, Any], notional_raw: int, maker: bool) -> int:
    """The commission in quote currency at the notional scale, rounded up (see module doc)."""
    scale = instrument.price_precision + instrument.size_precision
    commission = Decimal(str(trade.get("commission", "0")))
    asset = str(trade.get("commissionAsset") or "")
    if asset == instrument.quote_currency:
        quote = commission
    elif asset == instrument.base_currency:
        quote = commission * Decimal(str(trade["price"]))
    else:
        rate = instrument.maker_fee if maker else instrument.taker_fee
        return FeeRate(rate).fee_raw(notional_raw)
    return int(quote.scaleb(scale).to_integral_value(ROUND_CEILING))
