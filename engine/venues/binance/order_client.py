"""Signed execution on Binance spot: place, cancel, query, open orders, balances.

Requests go through python-binance (:mod:`engine.venues.binance.rest`: HMAC-SHA256 with the secret
revealed only for the signature, rate-limit gate, clock-offset correction, error mapping). Our
client order id travels as ``newClientOrderId``, so a query by ``origClientOrderId`` finds an order
whose placement answer was lost. ``GET /api/v3/order`` has no executions, so a query of an order
with ``executedQty > 0`` also reads ``GET /api/v3/myTrades?orderId=…`` for its fills.

Fees are booked in the asset Binance charges them in (each trade's ``commission`` and
``commissionAsset``): the asset received (base on a buy, quote on a sell), or BNB when the account
pays fees in BNB. A base-asset commission is carried as :attr:`VenueFill.fee_base_raw`, so the
position and the balance hold what the account was really credited (0.01234 BTC bought at 0.1 %
leaves 0.01232766 BTC) and a sell-all never asks for more than that. Every fill also values its fee
in the quote currency (``fee_raw``, for PnL): exactly at the fill price for a base-asset
commission; for BNB, which has no price here, as the instrument's rate times Binance's BNB
discount multiplier (``discount`` of ``GET /api/v3/account/commission``: 0.75), while the BNB
amount itself leaves the BNB balance.
"""

from __future__ import annotations

import time
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
from engine.venues.binance.filters import FILTER_FAILURE, SymbolFilters
from engine.venues.binance.instruments import VENUE, instruments_from_exchange_info
from engine.venues.binance.rest import BinanceRest
from engine.venues.binance.wire import decimal_to_raw

NS_PER_MS = 1_000_000
AVERAGE_PRICE_TTL_S = 10.0
"""Binance's average price (a 5-minute volume-weighted average) is read again after this long."""
BNB_DISCOUNT = Decimal("0.75")
"""Binance charges this share of the standard commission when it is paid in BNB (the
``discount.discount`` multiplier of ``GET /api/v3/account/commission``)."""
_STATUS = {
    "NEW": VenueOrderStatus.OPEN,
    "PENDING_NEW": VenueOrderStatus.OPEN,
    "PARTIALLY_FILLED": VenueOrderStatus.OPEN,
    "FILLED": VenueOrderStatus.FILLED,
    "CANCELED": VenueOrderStatus.CANCELED,
    # Not an end: the cancel is still in progress (Binance documents it as unused, but an order
    # reported so may still fill), so it stays open until CANCELED or FILLED.
    "PENDING_CANCEL": VenueOrderStatus.OPEN,
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
        self._filters: dict[str, SymbolFilters] = {}
        self._average_prices: dict[str, tuple[float, Decimal]] = {}
        self._open_estimate: dict[str, int] = {}
        """Open orders per symbol, at least: from the last open-orders listing plus places since
        (an upper bound, so a MAX_NUM_ORDERS check asks the venue only near the limit)."""

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
        await self._check_filters(order, instrument)
        client = self._rest.client
        reply = await self._rest.call(client.create_order, weight=1, signed=True, **params)
        self._open_estimate[symbol] = self._open_estimate.get(symbol, 0) + 1
        return str(reply["orderId"])

    async def _check_filters(self, order: Order, instrument: Instrument) -> None:
        """Refuse, before sending, an order that breaks one of Binance's own filters
        (:mod:`engine.venues.binance.filters`), as Binance would (``-1013``)."""
        symbol = instrument.id.symbol
        filters = await self._symbol_filters(symbol)
        market = order.order_type is OrderType.MARKET
        average = await self._average_price(symbol) if filters.needs_average_price(market) else None
        refusal = filters.refusal(
            buy=order.side is OrderSide.BUY,
            market=market,
            price=Decimal(instrument.format_price(order.price_raw)),
            quantity=Decimal(instrument.format_size(order.quantity_raw)),
            average_price=average,
        )
        if refusal is None and filters.max_num_orders:
            if self._open_estimate.get(symbol, 0) + 1 > filters.max_num_orders:
                replies = await self._rest.call(
                    self._rest.client.get_open_orders, weight=6, signed=True, symbol=symbol
                )
                self._open_estimate[symbol] = len(replies)
            refusal = filters.open_orders_refusal(self._open_estimate.get(symbol, 0))
        if refusal is not None:
            raise VenueRejected(FILTER_FAILURE, f"{refusal}; not sent")

    async def _symbol_filters(self, symbol: str) -> SymbolFilters:
        filters = self._filters.get(symbol)
        if filters is None:
            info = await self._rest.call(self._rest.client.get_exchange_info, weight=20)
            for entry in info.get("symbols", []):
                if isinstance(entry, dict) and entry.get("symbol"):
                    self._filters[str(entry["symbol"])] = SymbolFilters.from_symbol_info(entry)
            filters = self._filters.setdefault(symbol, SymbolFilters())
        return filters

    async def _average_price(self, symbol: str) -> Decimal | None:
        """``GET /api/v3/avgPrice`` (weight 2), kept for :data:`AVERAGE_PRICE_TTL_S`."""
        now = time.monotonic()
        cached = self._average_prices.get(symbol)
        if cached is not None and now - cached[0] < AVERAGE_PRICE_TTL_S:
            return cached[1]
        reply = await self._rest.call(self._rest.client.get_avg_price, weight=2, symbol=symbol)
        price = Decimal(str(reply.get("price", "0")))
        self._average_prices[symbol] = (now, price)
        return price if price > 0 else None

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
        counts: dict[str, int] = {}
        for reply in replies:
            counts[str(reply["symbol"])] = counts.get(str(reply["symbol"]), 0) + 1
        self._open_estimate = counts
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
    fee_raw, fee_base_raw = _fee_raw(instrument, trade, price_raw, quantity_raw, maker)
    asset = str(trade.get("commissionAsset") or "")
    return VenueFill(
        trade_id=str(trade["id"]),
        client_order_id=client_order_id,
        price_raw=price_raw,
        quantity_raw=quantity_raw,
        fee_raw=fee_raw,
        liquidity="maker" if maker else "taker",
        ts=int(trade["time"]) * NS_PER_MS,
        fee_base_raw=fee_base_raw,
        fee_asset="" if asset == instrument.quote_currency else asset,
        fee_charged=str(trade.get("commission", "0")),
    )


def _fee_raw(
    instrument: Instrument, trade: dict[str, Any], price_raw: int, quantity_raw: int, maker: bool
) -> tuple[int, int]:
    """(the fee valued in the quote currency at the notional scale, the fee withheld in the base
    asset at the size scale); see the module docstring."""
    scale = instrument.price_precision + instrument.size_precision
    commission = Decimal(str(trade.get("commission", "0")))
    asset = str(trade.get("commissionAsset") or "")
    if asset == instrument.quote_currency:
        return int(commission.scaleb(scale).to_integral_value(ROUND_CEILING)), 0
    if asset == instrument.base_currency:
        # Never less than Binance withheld: a position must not claim a unit the account lacks.
        fee_base_raw = int(
            commission.scaleb(instrument.size_precision).to_integral_value(ROUND_CEILING)
        )
        return price_raw * fee_base_raw, fee_base_raw
    rate = (instrument.maker_fee if maker else instrument.taker_fee) * BNB_DISCOUNT
    return FeeRate(rate).fee_raw(price_raw * quantity_raw), 0
