"""The loopback's private WebSocket (``/websocket/v1/private``): ``myOrder`` and ``myAsset``.

Served from the loopback exchange's own state (:class:`LoopbackExchange` tells its ``observers``
of every placement, fill and end), in Upbit's wire format (protocols.md §A.8–A.10):

- the handshake must carry a valid JWT (``Authorization: Bearer``, no ``query_hash``); a bad one
  is answered after connecting with ``{"error":{"name":"INVALID_AUTH",…}}`` and the close;
- a request is the usual array; ``myOrder`` takes optional ``codes`` (none or ``[]``: every
  market), ``myAsset`` refuses ``codes`` (``WRONG_FORMAT``), public types are refused here;
- ``myOrder`` per event: ``wait`` on placement, ``trade`` per fill (``price``/``volume`` the
  fill's, ``trade_uuid`` the id ``GET /v1/order`` lists under ``trades[].uuid``, ``trade_fee``,
  ``is_maker``), ``done``/``cancel`` at the end; ``myAsset`` with the currencies that moved;
- numbers are JSON numbers, frames binary, DEFAULT or SIMPLE keys; text ``PING`` ->
  ``{"status":"UP"}``.

Faults: :meth:`PrivateHub.drop` cuts every private connection and refuses new ones for a while
(fills made meanwhile reach the client only through REST: its gap recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from engine.venues.upbit.loopback_auth import JwtVerifier
from engine.venues.upbit.loopback_exchange import LoopbackExchange
from engine.venues.upbit.loopback_frames import abbreviated
from engine.venues.upbit.loopback_orders import ExchangeError, LoopOrder
from engine.venues.upbit.loopback_session import (
    KEEPALIVE,
    WRONG_FORMAT,
    request_items,
    server_error,
)

KEEPALIVE_EVERY_S = 10.0
_ENCODER = msgspec.json.Encoder(decimal_format="number")
"""Upbit's socket carries money as JSON numbers: decimals written as numbers, digit for digit."""
SIMPLE_KEYS = {
    "type": "ty", "code": "cd", "uuid": "uid", "ask_bid": "ab", "order_type": "ot", "state": "s",
    "trade_uuid": "tuid", "price": "p", "avg_price": "ap", "volume": "v", "remaining_volume": "rv",
    "executed_volume": "ev", "trades_count": "tc", "reserved_fee": "rsf", "remaining_fee": "rmf",
    "paid_fee": "pf", "locked": "l", "executed_funds": "ef", "time_in_force": "tif",
    "trade_fee": "tf", "is_maker": "im", "identifier": "id", "smp_type": "smpt",
    "prevented_volume": "pv", "prevented_locked": "pl", "trade_timestamp": "ttms",
    "order_timestamp": "otms", "timestamp": "tms", "stream_type": "st", "asset_uuid": "astuid",
    "assets": "ast", "currency": "cu", "balance": "b", "asset_timestamp": "asttms",
}  # fmt: skip


class _PrivateSession:
    """One private connection: what it asked for, and a queue its sender drains in order."""

    def __init__(self, socket: web.WebSocketResponse, transport: asyncio.BaseTransport | None):
        self.socket = socket
        self.transport = transport
        self.wire_format = "DEFAULT"
        self.my_order = False
        self.order_codes: set[str] = set()
        self.my_asset = False
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.keepalive: asyncio.Task[None] | None = None

    def wants_order(self, market: str) -> bool:
        return self.my_order and (not self.order_codes or market in self.order_codes)

    def abort(self) -> None:
        if self.keepalive is not None:
            self.keepalive.cancel()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.abort()  # type: ignore[attr-defined]


class PrivateHub:
    """Every private connection of the loopback, fed by the exchange's order events."""

    def __init__(
        self, exchange: LoopbackExchange, auth: JwtVerifier, now_ns: Callable[[], int]
    ) -> None:
        self._exchange = exchange
        self._auth = auth
        self._now_ns = now_ns
        self.sessions: set[_PrivateSession] = set()
        self.refused_until = 0.0
        self.sent = 0
        """myOrder messages sent (tests check the stream carried what they expect)."""
        self._paid: dict[str, Decimal] = {}
        exchange.observers.append(self._on_order)

    def drop(self, refuse_s: float = 0.0) -> int:
        """Cut every private connection; refuse new ones for ``refuse_s`` seconds."""
        self.refused_until = time.monotonic() + refuse_s
        sessions = list(self.sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    # --- the socket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.refused_until:
            return web.Response(status=503, text="Service Unavailable")
        auth_error: ExchangeError | None = None
        try:
            self._auth.verify(request.headers.get("Authorization"), {})
        except ExchangeError as exc:
            auth_error = exc
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        session = _PrivateSession(socket, request.transport)
        self.sessions.add(session)
        sender = asyncio.create_task(self._sender(session), name="upbit-loopback-private")
        try:
            async for message in socket:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                data = message.data if isinstance(message.data, str) else message.data.decode()
                if auth_error is not None:
                    frame = server_error("INVALID_AUTH", "인증 정보가 올바르지 않습니다.")
                    await socket.send_bytes(frame)
                    await socket.close()
                    break
                if data.strip() == "PING":
                    if session.keepalive is None:
                        session.keepalive = asyncio.create_task(self._keepalive(session))
                    continue
                error = self._subscribe(session, data)
                if error is not None:
                    session.queue.put_nowait(error)
        finally:
            sender.cancel()
            if session.keepalive is not None:
                session.keepalive.cancel()
            self.sessions.discard(session)
        return socket

    def _subscribe(self, session: _PrivateSession, data: str) -> bytes | None:
        items = request_items(data)
        if isinstance(items, bytes):
            return items
        my_order, codes, my_asset, wire_format = False, set(), False, "DEFAULT"
        for item in items:
            if not isinstance(item, dict):
                return WRONG_FORMAT
            if "format" in item:
                if item["format"] not in ("DEFAULT", "SIMPLE"):
                    return server_error("INVALID_PARAM", f"지원하지 않는 format: {item['format']}")
                wire_format = str(item["format"])
                continue
            kind = item.get("type")
            if kind is None:
                return server_error("NO_TYPE", "type 필드가 없습니다.")
            if kind == "myOrder":
                my_order = True
                codes = {str(code) for code in item.get("codes") or ()}
            elif kind == "myAsset":
                if "codes" in item:
                    return server_error("WRONG_FORMAT", "myAsset 은 codes 를 받지 않습니다.")
                my_asset = True
            else:
                return server_error("WRONG_FORMAT", f"private endpoint does not serve {kind}")
        session.my_order, session.order_codes = my_order, codes
        session.my_asset, session.wire_format = my_asset, wire_format
        return None

    async def _sender(self, session: _PrivateSession) -> None:
        while True:
            frame = await session.queue.get()
            try:
                await session.socket.send_bytes(frame)
            except (ConnectionError, RuntimeError):
                session.abort()
                return

    async def _keepalive(self, session: _PrivateSession) -> None:
        while not session.socket.closed:
            session.queue.put_nowait(KEEPALIVE)
            await asyncio.sleep(KEEPALIVE_EVERY_S)

    # --- events from the exchange ------------------------------------------------------------

    def _on_order(
        self, order: LoopOrder, trade: dict[str, Any] | None, match_ns: int | None
    ) -> None:
        if not self.sessions:
            self._paid[order.uuid] = order.paid_fee
            return
        now_ms = self._now_ns() // 1_000_000
        message = self._my_order(order, trade, match_ns, now_ms)
        assets = self._my_asset(order, now_ms)
        for session in self.sessions:
            if session.wants_order(order.market):
                session.queue.put_nowait(_encode(message, session.wire_format))
                self.sent += 1
            if session.my_asset and (trade is not None or order.state != "wait"):
                session.queue.put_nowait(_encode(assets, session.wire_format))

    def _my_order(
        self, order: LoopOrder, trade: dict[str, Any] | None, match_ns: int | None, now_ms: int
    ) -> dict[str, Any]:
        market = self._exchange.market
        position = order.position
        executed = market.size(position, order.executed_raw)
        paid_before = self._paid.get(order.uuid, Decimal(0))
        self._paid[order.uuid] = order.paid_fee
        state = order.state if trade is None else "trade"
        if trade is not None:
            price, volume = Decimal(trade["price"]), Decimal(trade["volume"])
        else:
            price = market.price(position, order.price_raw)
            volume = market.size(position, order.volume_raw)
        is_trade = trade is not None
        return {
            "type": "myOrder",
            "code": order.market,
            "uuid": order.uuid,
            "ask_bid": "BID" if order.side == "bid" else "ASK",
            "order_type": order.ord_type,
            "state": state,
            "trade_uuid": trade["uuid"] if trade is not None else None,
            "price": price,
            "avg_price": order.funds / executed if executed else Decimal(0),
            "volume": volume,
            "remaining_volume": market.size(position, order.remaining_raw),
            "executed_volume": executed,
            "trades_count": len(order.trades),
            "reserved_fee": order.reserved_fee,
            "remaining_fee": max(Decimal(0), order.reserved_fee - order.paid_fee),
            "paid_fee": order.paid_fee,
            "locked": order.locked,
            "executed_funds": order.funds,
            "time_in_force": order.time_in_force,
            "trade_fee": order.paid_fee - paid_before if is_trade else None,
            # A fill matched while the order was being placed took liquidity; later ones made it.
            "is_maker": (match_ns != order.created_ns) if is_trade else None,
            "identifier": order.identifier,
            "smp_type": None,
            "prevented_volume": 0,
            "prevented_locked": 0,
            "trade_timestamp": (match_ns or now_ms * 1_000_000) // 1_000_000 if is_trade else None,
            "order_timestamp": order.created_ns // 1_000_000,
            "timestamp": now_ms,
            "stream_type": "REALTIME",
        }

    def _my_asset(self, order: LoopOrder, now_ms: int) -> dict[str, Any]:
        exchange = self._exchange
        base = exchange.market.instruments[order.position].base_currency
        return {
            "type": "myAsset",
            "asset_uuid": order.uuid,
            "assets": [
                {
                    "currency": currency,
                    "balance": exchange.free.get(currency, Decimal(0)),
                    "locked": exchange.locked.get(currency, Decimal(0)),
                }
                for currency in ("KRW", base)
            ],
            "asset_timestamp": now_ms,
            "timestamp": now_ms,
            "stream_type": "REALTIME",
        }


def _encode(message: dict[str, Any], wire_format: str) -> bytes:
    if wire_format == "SIMPLE":
        message = abbreviated(message, SIMPLE_KEYS)
    return _ENCODER.encode(message)
