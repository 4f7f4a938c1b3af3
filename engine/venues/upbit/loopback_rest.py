"""The loopback's REST API: Upbit's ``/v1`` Quotation and Exchange endpoints (protocols.md §A.2-6).

Every reply carries ``Remaining-Req`` (and ``Limit-By-Ip`` on Quotation), the venue's ``Date``
(with any injected skew), and errors in Upbit's envelope ``{"error":{"name","message"}}``, with
numeric names on Quotation errors. Parameters are read where Upbit clients put them: the query,
a form body (pyupbit's GETs) or a JSON body (POST, and pyupbit's DELETEs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from engine.venues.upbit.loopback_auth import JwtVerifier, RateLimited, RateWindows
from engine.venues.upbit.loopback_exchange import LoopbackExchange
from engine.venues.upbit.loopback_frames import (
    candles_reply,
    orderbook_message,
    tick_reply,
    ticker_reply,
)
from engine.venues.upbit.loopback_market import LoopbackMarket
from engine.venues.upbit.loopback_orders import ExchangeError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MINUTE_UNITS = (1, 3, 5, 10, 15, 30, 60, 240)


class UpbitRestApi:
    """REST endpoints of :class:`~engine.venues.upbit.loopback.UpbitLoopback` (a mixin).

    The server provides the state these handlers read and change.
    """

    symbols: list[str]
    market: LoopbackMarket
    exchange: LoopbackExchange
    rate_windows: RateWindows
    latency_s: float
    skew_ns: int
    requests: dict[str, int]
    request_lines: list[str]
    _auth: JwtVerifier
    _dirty: set[int]

    def now_ns(self) -> int:
        raise NotImplementedError

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _routes(self, app: web.Application) -> None:
        get, post, delete = app.router.add_get, app.router.add_post, app.router.add_delete
        get("/websocket/v1", self._websocket)
        get("/v1/market/all", self._rest("market", False, self._market_all))
        get("/v1/ticker", self._rest("ticker", False, self._ticker))
        get("/v1/orderbook", self._rest("orderbook", False, self._orderbook))
        get("/v1/orderbook/instruments", self._rest("orderbook", False, self._tick_policy))
        get("/v1/trades/ticks", self._rest("crix-trades", False, self._ticks))
        get("/v1/candles/minutes/{unit}", self._rest("candles", False, self._candles))
        get("/v1/candles/days", self._rest("candles", False, self._candles))
        get("/v1/accounts", self._rest("default", True, lambda _r, _p: self.exchange.accounts()))
        get("/v1/orders/chance", self._rest("default", True, self._chance))
        get("/v1/order", self._rest("default", True, self._get_order))
        get("/v1/orders/open", self._rest("default", True, self._open_orders))
        post("/v1/orders", self._rest("order", True, self._place))
        delete("/v1/order", self._rest("default", True, self._cancel))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        self.request_lines.append(f"{request.method} {request.path_qs}")
        response = await handler(request)
        response.headers["Date"] = formatdate(self.now_ns() / 1e9, usegmt=True)
        return response

    def _rest(
        self,
        group: str,
        signed: bool,
        handle: Callable[[web.Request, dict[str, Any]], Any],
    ) -> Handler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            try:
                remaining = self.rate_windows.admit(group if signed else f"q:{group}")
            except RateLimited as limited:
                headers = {"Remaining-Req": RateWindows.header(group, 0)}
                if limited.retry_after_s is not None:
                    headers["Retry-After"] = str(max(1, round(limited.retry_after_s)))
                return web.Response(
                    status=limited.status, text="Too many API requests.", headers=headers
                )
            headers = {"Remaining-Req": RateWindows.header(group, remaining)}
            if not signed:
                headers["Limit-By-Ip"] = "Yes"
            try:
                params = await _params(request)
                if signed:
                    self._auth.verify(request.headers.get("Authorization"), params)
                status = 201 if request.method == "POST" else 200
                body = handle(request, params)
            except ExchangeError as error:
                name: Any = error.name
                if not signed and name.isdigit():
                    name = int(name)  # Quotation errors carry numeric names
                status, body = error.status, {"error": {"name": name, "message": error.message}}
            return web.Response(
                status=status,
                body=msgspec.json.encode(body),
                content_type="application/json",
                charset="utf-8",
                headers=headers,
            )

        return endpoint

    # Quotation handlers. Every one answers Upbit's shape; unknown markets are a numeric 404.

    def _positions(self, params: dict[str, Any], key: str) -> list[int]:
        codes = [code for code in str(params.get(key, "")).split(",") if code]
        if not codes:
            raise ExchangeError(
                400, "400", "Missing request parameter error. Check the required parameters!"
            )
        positions = [self.market.position_of.get(code) for code in codes]
        if any(position is None for position in positions):
            raise ExchangeError(404, "404", "Code not found")
        return [position for position in positions if position is not None]

    def _market_all(self, _request: web.Request, _params: dict[str, Any]) -> Any:
        return [
            {
                "market": symbol,
                "korean_name": instrument.name,
                "english_name": instrument.name,
                "market_event": {"warning": False, "caution": {}},
            }
            for symbol, instrument in zip(self.symbols, self.market.instruments, strict=True)
        ]

    def _ticker(self, _request: web.Request, params: dict[str, Any]) -> Any:
        ts = self.now_ns()
        return [ticker_reply(self.market, p, ts) for p in self._positions(params, "markets")]

    def _orderbook(self, _request: web.Request, params: dict[str, Any]) -> Any:
        depth = min(30, int(params.get("count", 30)))
        ts = self.now_ns()
        return [
            orderbook_message(self.market, position, depth, ts, None)
            for position in self._positions(params, "markets")
        ]

    def _tick_policy(self, _request: web.Request, params: dict[str, Any]) -> Any:
        replies = []
        for position in self._positions(params, "markets"):
            instrument = self.market.instruments[position]
            price = self.market.last_price_raw(position)
            tick = self.market.price(position, instrument.tick_table.tick_at(price))
            replies.append(
                {
                    "market": self.symbols[position],
                    "quote_currency": "KRW",
                    "tick_size": format(tick.normalize(), "f"),
                    "supported_levels": [0],
                }
            )
        return replies

    def _ticks(self, _request: web.Request, params: dict[str, Any]) -> Any:
        (position,) = self._positions(params, "market")[:1]
        count = max(1, min(500, int(params.get("count", 1))))
        cursor = int(params["cursor"]) if params.get("cursor") else None
        replies = []
        for trade in reversed(self.market.tape[position]):
            if cursor is not None and trade.sequential_id >= cursor:
                continue
            replies.append(tick_reply(self.market, trade, self.skew_ns))
            if len(replies) >= count:
                break
        return replies

    def _candles(self, request: web.Request, params: dict[str, Any]) -> Any:
        (position,) = self._positions(params, "market")[:1]
        unit = request.match_info.get("unit")
        if unit is not None and int(unit) not in MINUTE_UNITS:
            raise ExchangeError(400, "400", "Invalid unit")
        minutes = int(unit) if unit is not None else None
        unit_s = minutes * 60 if minutes is not None else 86_400
        count = max(1, min(200, int(params.get("count", 1))))
        to_ns = _parse_to(params.get("to")) or self.now_ns()
        return candles_reply(self.market, position, unit_s, to_ns, count, self.skew_ns, minutes)

    # Exchange handlers.

    def _chance(self, _request: web.Request, params: dict[str, Any]) -> Any:
        (position,) = self._positions(params, "market")[:1]
        base = self.market.instruments[position].base_currency
        accounts = {item["currency"]: item for item in self.exchange.accounts()}
        empty = {"currency": base, "balance": "0", "locked": "0"}
        return {
            "bid_fee": "0.0005",
            "ask_fee": "0.0005",
            "maker_bid_fee": "0.0005",
            "maker_ask_fee": "0.0005",
            "market": {
                "id": self.symbols[position],
                "name": f"{base}/KRW",
                "order_sides": ["ask", "bid"],
                "bid_types": ["limit", "limit_ioc", "limit_fok", "price"],
                "ask_types": ["limit", "limit_ioc", "limit_fok", "market"],
                "bid": {"currency": "KRW", "min_total": "5000"},
                "ask": {"currency": "KRW", "min_total": "5000"},
                "max_total": "1000000000",
                "state": "active",
            },
            "bid_account": accounts.get("KRW", {**empty, "currency": "KRW"}),
            "ask_account": accounts.get(base, empty),
        }

    def _get_order(self, _request: web.Request, params: dict[str, Any]) -> Any:
        return self.exchange.order_object(self.exchange.find(params), with_trades=True)

    def _open_orders(self, _request: web.Request, params: dict[str, Any]) -> Any:
        orders = self.exchange.open_orders(params.get("market"))
        limit = max(1, min(100, int(params.get("limit", 100))))
        page = max(1, int(params.get("page", 1)))
        return orders[(page - 1) * limit : page * limit]

    def _place(self, _request: web.Request, params: dict[str, Any]) -> Any:
        reply = self.exchange.place(params, time.time_ns())
        self._dirty.add(self.market.position_of[reply["market"]])
        return reply

    def _cancel(self, _request: web.Request, params: dict[str, Any]) -> Any:
        reply = self.exchange.cancel(params, time.time_ns())
        self._dirty.add(self.market.position_of[reply["market"]])
        return reply


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query, a form body (pyupbit's GETs) or a JSON body (POST/DELETE)."""
    params: dict[str, Any] = {}
    for key, value in request.query.items():
        if key.endswith("[]"):
            params.setdefault(key, []).append(value)
        else:
            params[key] = value
    if request.can_read_body:
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                try:
                    body = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    raise ExchangeError(400, "validation_error", "잘못된 API 요청입니다.") from None
                if isinstance(body, dict):
                    params.update(body)
            else:  # aiohttp's post() ignores bodies of GET/DELETE: parse the form here
                params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _parse_to(value: Any) -> int | None:
    """Candle ``to``: ISO 8601 (``...Z`` or with offset) or pyupbit's ``YYYY-MM-DD HH:MM:SS``."""
    if not value:
        return None
    text = str(value).replace(" ", "T").replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ExchangeError(400, "400", "Invalid to parameter") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1e9)
