"""The loopback's WebSocket API user data stream (``/ws-api/v3``), served from its exchange state.

Binance retired the listenKey flow for spot (2026-02-20); the user data stream is now a
subscription on the WebSocket API (protocols.md §B.9, Binance "User Data Stream requests"):

- request ``{"id":…,"method":"userDataStream.subscribe.signature","params":{"apiKey":…,
  "timestamp":…,"signature":…,"recvWindow"?}}``, the signature HMAC-SHA256 over the parameters
  sorted by name (``apiKey=…&recvWindow=…&timestamp=…``); answered
  ``{"id":…,"status":200,"result":{"subscriptionId":N},"rateLimits":[…]}``, or ``status`` 400/401
  with ``{"error":{"code":-1022|-2015|-1021|-1102,"msg":…}}``. ``userDataStream.unsubscribe``,
  ``session.subscriptions`` and ``ping`` are answered too;
- events come wrapped ``{"subscriptionId":N,"event":{…}}``: ``executionReport`` per order event
  (``x`` NEW, TRADE per fill with ``t``/``l``/``L``/``n``/``N``/``m``, CANCELED with the
  cancel's own ``c`` and the original id in ``C``, EXPIRED) and ``outboundAccountPosition`` with
  the assets that moved.

The exchange module knows nothing of this: :meth:`UserDataHub.sync` compares every order and
balance with what was last reported and sends the differences; the server calls it after every
REST request and every market tick. What happens while no one is subscribed is never sent later
(as on the venue): a client recovers it over REST.

Faults: :meth:`UserDataHub.drop` closes every connection and refuses new ones for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import WSMsgType, web

from engine.venues.binance.loopback_exchange import LoopbackExchange
from engine.venues.binance.loopback_market import e8_text
from engine.venues.binance.loopback_orders import Fill, LoopbackOrder

RECV_WINDOW_DEFAULT = 5000
PING_INTERVAL_S = 20.0
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000,
     "count": 2},
]  # fmt: skip
_encode = msgspec.json.encode


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    subscriptions: set[int] = field(default_factory=set)
    queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


class UserDataHub:
    """The WebSocket API connections and the user data each one subscribed to."""

    def __init__(
        self,
        exchange: LoopbackExchange,
        api_key: str,
        api_secret: str,
        now_ms: Callable[[], int],
    ) -> None:
        self._exchange = exchange
        self._api_key = api_key
        self._api_secret = api_secret
        self._now_ms = now_ms
        self._connections: set[_Connection] = set()
        self._next_subscription = 0
        self._reported: dict[int, tuple[int, str]] = {}
        """Per order id: fills reported, status reported."""
        self._closed: set[int] = set()
        self._balances: dict[str, tuple[int, int]] = {}
        self._next_execution = 102_931_771_000
        self.refused_until = 0.0
        self.sent = 0
        """executionReport events sent (tests check what the stream carried)."""
        self.sync()

    # --- faults -------------------------------------------------------------------------------

    async def drop(self, refuse_s: float = 0.0) -> int:
        """Close every connection; refuse new ones for ``refuse_s`` seconds."""
        self.refused_until = time.monotonic() + refuse_s
        connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.socket.close(code=1001, message=b"server going away")
        self._connections.clear()
        return len(connections)

    # --- the socket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.refused_until:
            return web.Response(status=503, text="Service Unavailable")
        socket = web.WebSocketResponse(heartbeat=PING_INTERVAL_S, autoping=True)
        await socket.prepare(request)
        connection = _Connection(socket)
        self._connections.add(connection)
        sender = asyncio.create_task(self._sender(connection), name="binance-loopback-ws-api")
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    break
                connection.queue.put_nowait(_encode(self._reply(connection, message.data)))
        finally:
            sender.cancel()
            self._connections.discard(connection)
        return socket

    async def _sender(self, connection: _Connection) -> None:
        while True:
            frame = await connection.queue.get()
            try:
                await connection.socket.send_str(frame.decode())
            except (ConnectionError, RuntimeError):
                return

    def _reply(self, connection: _Connection, text: str) -> dict[str, Any]:
        try:
            request = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return _error(None, 400, -1000, "Invalid JSON request")
        if not isinstance(request, dict):
            return _error(None, 400, -1000, "Invalid request")
        ident, method = request.get("id"), request.get("method")
        params = request.get("params") or {}
        if method == "ping":
            return _ok(ident, {})
        if method == "userDataStream.subscribe.signature":
            problem = self._check_signature(params)
            if problem is not None:
                return _error(ident, *problem)
            subscription = self._next_subscription
            self._next_subscription += 1
            connection.subscriptions.add(subscription)
            return _ok(ident, {"subscriptionId": subscription})
        if method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            if wanted is None:
                connection.subscriptions.clear()
            else:
                connection.subscriptions.discard(int(wanted))
            return _ok(ident, {})
        if method == "session.subscriptions":
            return _ok(ident, [{"subscriptionId": s} for s in sorted(connection.subscriptions)])
        return _error(ident, 400, -1000, f"Unknown method {method!r}")

    def _check_signature(self, params: dict[str, Any]) -> tuple[int, int, str] | None:
        for name in ("apiKey", "timestamp", "signature"):
            if not params.get(name):
                return 400, -1102, f"Mandatory parameter '{name}' was not sent."
        if not hmac.compare_digest(str(params["apiKey"]).encode(), self._api_key.encode()):
            return 401, -2015, "Invalid API-key, IP, or permissions for action."
        signed = {k: v for k, v in sorted(params.items()) if k != "signature"}
        payload = urlencode(signed)
        expected = hmac.new(self._api_secret.encode(), payload.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), str(params["signature"]).lower()):
            return 400, -1022, "Signature for this request is not valid."
        now = self._now_ms()
        timestamp = int(params["timestamp"])
        window = float(params.get("recvWindow") or RECV_WINDOW_DEFAULT)
        if timestamp >= now + 1000 or now - timestamp > window:
            return 400, -1021, "Timestamp for this request is outside of the recvWindow."
        return None

    # --- events -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Report every order event and balance change since the last call."""
        events: list[dict[str, Any]] = []
        now = self._now_ms()
        for order in list(self._exchange.orders.values()):
            if order.order_id not in self._closed:
                events.extend(self._order_events(order, now))
        moved = []
        for asset, (free, locked) in self._exchange.balances.items():
            if self._balances.get(asset) != (free, locked):
                self._balances[asset] = (free, locked)
                moved.append({"a": asset, "f": e8_text(free), "l": e8_text(locked)})
        if moved:
            events.append({"e": "outboundAccountPosition", "E": now, "u": now, "B": moved})
        subscribed = [c for c in self._connections if c.subscriptions]
        if not events or not subscribed:
            return  # lost, as on the venue: nobody is listening
        for connection in subscribed:
            for subscription in sorted(connection.subscriptions):
                for event in events:
                    connection.queue.put_nowait(
                        _encode({"subscriptionId": subscription, "event": event})
                    )
        self.sent += sum(1 for event in events if event["e"] == "executionReport") * len(subscribed)

    def _order_events(self, order: LoopbackOrder, now: int) -> list[dict[str, Any]]:
        reported_fills, reported_status = self._reported.get(order.order_id, (0, ""))
        events: list[dict[str, Any]] = []
        if not reported_status:
            events.append(self._report(order, now, "NEW", "NEW", None, 0, 0))
            reported_status = "NEW"
        executed = quote = 0
        for index, fill in enumerate(order.fills):
            executed += fill.qty
            quote += fill.price * fill.qty // 10**8
            if index < reported_fills:
                continue
            status = "FILLED" if executed == order.orig_qty else "PARTIALLY_FILLED"
            events.append(self._report(order, now, "TRADE", status, fill, executed, quote))
            reported_status = status
        if order.status in ("CANCELED", "EXPIRED", "REJECTED") and reported_status != order.status:
            events.append(
                self._report(order, now, order.status, order.status, None, executed, quote)
            )
            reported_status = order.status
        self._reported[order.order_id] = (len(order.fills), reported_status)
        if not order.is_open:
            self._closed.add(order.order_id)
        return events

    def _report(
        self,
        order: LoopbackOrder,
        now: int,
        execution: str,
        status: str,
        fill: Fill | None,
        executed: int,
        quote: int,
    ) -> dict[str, Any]:
        self._next_execution += 1
        canceled = execution == "CANCELED"
        last_quote = fill.price * fill.qty // 10**8 if fill is not None else 0
        return {
            "e": "executionReport",
            "E": now,
            "s": order.symbol,
            # A cancel's report carries the cancel request's own id; the order's is in "C".
            "c": f"web_{order.order_id}_cancel" if canceled else order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": e8_text(order.orig_qty),
            "p": e8_text(order.price),
            "P": "0.00000000",
            "F": "0.00000000",
            "g": -1,
            "C": order.client_order_id if canceled else "",
            "x": execution,
            "X": status,
            "r": "NONE",
            "i": order.order_id,
            "l": e8_text(fill.qty if fill else 0),
            "z": e8_text(executed),
            "L": e8_text(fill.price if fill else 0),
            "n": e8_text(fill.commission if fill else 0),
            "N": fill.commission_asset if fill else None,
            "T": fill.time_ms if fill else now,
            "t": fill.trade_id if fill else -1,
            "I": self._next_execution,
            "w": order.is_open and order.type != "MARKET",
            "m": fill.is_maker if fill else False,
            "M": True,
            "O": order.time_ms,
            "Z": e8_text(quote),
            "Y": e8_text(last_quote),
            "Q": "0.00000000",
            "W": order.time_ms,
            "V": "EXPIRE_MAKER",
        }


def _ok(ident: Any, result: Any) -> dict[str, Any]:
    return {"id": ident, "status": 200, "result": result, "rateLimits": RATE_LIMITS}


def _error(ident: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": ident, "status": status, "error": {"code": code, "msg": msg},
            "rateLimits": RATE_LIMITS}  # fmt: skip
