"""Signed execution on Upbit: place, cancel, query, open orders, balances (protocols.md §A.3).

Order mapping:

- limit: ``ord_type=limit`` with ``price`` and ``volume``; IOC/FOK as ``time_in_force``;
- market sell: ``ord_type=market`` with ``volume``;
- market buy: Upbit's market buy (``ord_type=price``) spends a KRW *total*, not a quantity, so a
  quantity cannot be bought exactly with it. STOM sends a marketable limit IOC instead, priced
  0.5 % above the ask level of the live book where the cumulative size covers the quantity: it
  fills at most the quantity, at the best prices available, and the rest expires.

The client order id travels as ``identifier`` (unique per account forever), so an order whose
placement reply was lost can be found again (``GET /v1/order?identifier=``).

Fees are Upbit's own: each order's ``paid_fee`` is shared among its trades (which carry no fee of
their own) in proportion to their value, never a rate applied here; maker or taker comes from each
trade's ``trend`` (the taking side), not from timestamps.

Upbit has no request timestamps to check (the JWT carries a nonce, not a time), so a venue clock
that drifts cannot get requests rejected; the transport still measures the drift from ``Date``
and fill times are moved onto the local clock with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.domain.fixed_point import PrecisionError, to_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Liquidity, Order, OrderSide, OrderType, TimeInForce
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
)
from engine.venues.upbit.rest import UpbitRest
from engine.venues.upbit.rules import VENUE, instrument_id

DEFAULT_REST_URL = "https://api.upbit.com/v1"
OPEN_ORDERS_PAGE = 100
MARKET_BUY_GUARD_BPS = 50
"""A market buy's limit sits this far (0.5 %) above the ask level that covers it."""
_STATUS = {
    "wait": VenueOrderStatus.OPEN,
    "watch": VenueOrderStatus.OPEN,
    "done": VenueOrderStatus.FILLED,
    "cancel": VenueOrderStatus.CANCELED,
}


class UpbitOrderClient:
    """Upbit execution over signed REST; see the module docstring for the order mapping.

    ``instruments`` gives the precisions for orders found on the venue (after a restart); orders
    placed through :meth:`place` are known anyway.
    """

    venue = VENUE
    rejects_duplicate_ids = True
    """A reused ``identifier`` is refused (see :class:`~engine.venues.base.OrderClient`)."""

    def __init__(
        self,
        rest_url: str = DEFAULT_REST_URL,
        *,
        access_key: Secret,
        secret_key: Secret,
        clock: Clock | None = None,
        instruments: Iterable[Instrument] = (),
        timeout_s: float = 10.0,
    ) -> None:
        self._rest = UpbitRest(
            rest_url, access_key=access_key, secret_key=secret_key, timeout_s=timeout_s
        )
        self._clock = clock or LiveClock()
        self._instruments: dict[str, Instrument] = {}
        self.add_instruments(instruments)

    @property
    def rest(self) -> UpbitRest:
        """The transport (rate-limit and clock-offset figures live there)."""
        return self._rest

    def add_instruments(self, instruments: Iterable[Instrument]) -> None:
        for instrument in instruments:
            self._instruments[instrument.id.symbol] = instrument

    async def close(self) -> None:
        await self._rest.close()

    # --- orders -------------------------------------------------------------------------------

    async def place(self, order: Order, instrument: Instrument) -> str:
        self._instruments[instrument.id.symbol] = instrument
        body = await self._order_body(order, instrument)
        reply = await self._rest.private("POST", "/orders", body)
        return str(reply["uuid"])

    async def cancel(self, order: Order, venue_order_id: str) -> None:
        await self._rest.private("DELETE", "/order", {"uuid": venue_order_id})

    async def query(self, order: Order, venue_order_id: str) -> VenueOrderState:
        params = (
            {"uuid": venue_order_id} if venue_order_id else {"identifier": order.client_order_id}
        )
        reply = await self._rest.private("GET", "/order", params)
        return self._state(reply)

    async def open_orders(self) -> list[VenueOrderState]:
        states: list[VenueOrderState] = []
        page = 1
        while True:
            params = {"state": "wait", "page": str(page), "limit": str(OPEN_ORDERS_PAGE)}
            reply = await self._rest.private("GET", "/orders/open", params)
            states.extend(self._state(item) for item in reply)
            if len(reply) < OPEN_ORDERS_PAGE:
                return states
            page += 1

    async def balances(self) -> list[Balance]:
        reply = await self._rest.private("GET", "/accounts")
        return [
            Balance(
                currency=str(item["currency"]),
                free=Decimal(str(item["balance"])),
                locked=Decimal(str(item["locked"])),
            )
            for item in reply
        ]

    # --- mapping ------------------------------------------------------------------------------

    async def _order_body(self, order: Order, instrument: Instrument) -> dict[str, str]:
        symbol = instrument.id.symbol
        volume = _plain(instrument.format_size(order.quantity_raw))
        side = "bid" if order.side is OrderSide.BUY else "ask"
        if order.order_type is OrderType.MARKET and order.side is OrderSide.SELL:
            return {
                "market": symbol,
                "side": side,
                "ord_type": "market",
                "volume": volume,
                "identifier": order.client_order_id,
            }
        if order.order_type is OrderType.MARKET:
            price_raw = await self._marketable_ask(instrument, order.quantity_raw)
            time_in_force: str | None = "ioc"
        else:
            price_raw = order.price_raw
            time_in_force = {TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}.get(
                order.time_in_force
            )
        body = {
            "market": symbol,
            "side": side,
            "ord_type": "limit",
            "price": _plain(instrument.format_price(price_raw)),
            "volume": volume,
            "identifier": order.client_order_id,
        }
        if time_in_force is not None:
            body["time_in_force"] = time_in_force
        return body

    async def _marketable_ask(self, instrument: Instrument, quantity_raw: int) -> int:
        """The ask price where the visible book covers ``quantity_raw`` (the worst level if not)."""
        books = await self._rest.public("/orderbook", {"markets": instrument.id.symbol})
        units = books[0]["orderbook_units"] if books else []
        covered = 0
        price_raw = 0
        for unit in units:
            price_raw = _raw(unit["ask_price"], instrument.price_precision)
            covered += _raw(unit["ask_size"], instrument.size_precision)
            if covered >= quantity_raw:
                break
        if price_raw <= 0:
            raise VenueRejected("no_liquidity", f"{instrument.id.symbol} has no asks to buy from")
        # The book moves between this read and the order's arrival: leave a little room.
        guard = price_raw * MARKET_BUY_GUARD_BPS // 10_000
        return instrument.tick_table.round_up(price_raw + guard)

    def _state(self, item: dict[str, Any]) -> VenueOrderState:
        symbol = str(item["market"])
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise VenueRejected(
                "unknown_instrument", f"Upbit order on {symbol}, which STOM has no rules for"
            )
        size_precision = instrument.size_precision
        client_order_id = str(item.get("identifier") or "")
        trades = list(item.get("trades") or ())
        prices = [_raw(trade["price"], instrument.price_precision) for trade in trades]
        quantities = [_raw(trade["volume"], size_precision) for trade in trades]
        fees = _trade_fees(
            instrument, item, [p * q for p, q in zip(prices, quantities, strict=True)]
        )
        side = str(item.get("side") or "")
        fills = tuple(
            VenueFill(
                trade_id=str(trade["uuid"]),
                client_order_id=client_order_id,
                price_raw=price,
                quantity_raw=quantity,
                fee_raw=fee,
                liquidity=_liquidity(side, trade),
                ts=self._local_ns(str(trade.get("created_at", ""))),
            )
            for trade, price, quantity, fee in zip(trades, prices, quantities, fees, strict=True)
        )
        state = str(item["state"])
        return VenueOrderState(
            client_order_id=client_order_id,
            venue_order_id=str(item["uuid"]),
            instrument_id=str(instrument_id(symbol)),
            status=_STATUS.get(state, VenueOrderStatus.OPEN),
            filled_raw=_raw(item.get("executed_volume") or "0", size_precision),
            fills=fills,
            reason="" if state != "cancel" else "canceled on the venue",
        )

    def _local_ns(self, created_at: str) -> int:
        """A venue timestamp (KST ISO text) on the local clock (the venue's drift removed)."""
        try:
            venue_ns = int(datetime.fromisoformat(created_at).timestamp()) * 1_000_000_000
        except ValueError:
            return self._clock.now_ns()
        return venue_ns - self._rest.clock_offset_ns


def _trade_fees(instrument: Instrument, item: dict[str, Any], notionals: list[int]) -> list[int]:
    """Each trade's share of the order's ``paid_fee`` (what Upbit charged; its trades carry no
    fee of their own), in proportion to its value, at the notional scale.

    Shares are cut at cumulative values, so they add up to ``paid_fee`` exactly and a trade's
    share does not change when later trades join the order (its rate is the order's rate)."""
    scale = instrument.price_precision + instrument.size_precision
    paid = Decimal(str(item.get("paid_fee") or "0")).scaleb(scale)
    total = sum(notionals)
    if total <= 0 or paid <= 0:
        return [0] * len(notionals)
    fees: list[int] = []
    cumulative = charged = 0
    for notional in notionals:
        cumulative += notional
        upto = int((paid * cumulative / total).to_integral_value(ROUND_CEILING))
        fees.append(upto - charged)
        charged = upto
    return fees


def _liquidity(side: str, trade: dict[str, Any]) -> Liquidity:
    """Maker or taker from the trade's ``trend``, the side of the order that took (``up``: a
    buyer took an ask); unknown (no trend) counts as taker, the dearer assumption."""
    trend = trade.get("trend")
    if trend not in ("up", "down"):
        return "taker"
    return "taker" if (trend == "up") == (side == "bid") else "maker"


def _raw(value: Any, precision: int) -> int:
    """A venue number (string or JSON number) as a raw int; venue values are never finer."""
    try:
        return to_raw(str(value), precision)
    except PrecisionError:
        # A KRW amount finer than the instrument's grid (the venue's own rounding): round down.
        return int(Decimal(str(value)).scaleb(precision))


def _plain(text: str) -> str:
    """Decimal text without trailing zeros (``"40.10"`` -> ``"40.1"``, ``"5.00"`` -> ``"5"``)."""
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")
