"""One WebSocket connection to the loopback: its subscriptions, format and keepalive.

The request is one JSON array (protocols.md §A.8): a ticket object first, then type objects
(``type``, upper-case ``codes``, orderbook codes with an optional depth suffix ``KRW-BTC.15``,
``is_only_snapshot`` / ``is_only_realtime`` in either spelling), then an optional format object.
Errors come back as ``{"error":{"name":"NO_TICKET"|"NO_TYPE"|"NO_CODES"|"WRONG_FORMAT"|
"INVALID_PARAM",...}}``. A new request replaces the connection's subscriptions (what Upbit does
there is not documented; clients should resend the full set anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

BOOK_DEPTHS = (1, 5, 15, 30)
FORMATS = ("DEFAULT", "SIMPLE")
KEEPALIVE = b'{"status":"UP"}'


def server_error(name: str, message: str) -> bytes:
    return msgspec.json.encode({"error": {"name": name, "message": message}})


WRONG_FORMAT = server_error("WRONG_FORMAT", "요청 형식이 올바르지 않습니다.")


def _flag(item: dict[str, Any], snake: str, camel: str) -> bool:
    return bool(item.get(snake, item.get(camel, False)))


@dataclass
class Request:
    """A parsed subscription request."""

    wire_format: str = "DEFAULT"
    trades: set[int] = field(default_factory=set)
    books: dict[int, int] = field(default_factory=dict)
    trade_snapshot: bool = True
    trade_realtime: bool = True
    book_snapshot: bool = True
    book_realtime: bool = True


def request_items(data: str) -> list[Any] | bytes:
    """The items after the ticket of a request (public or private endpoint), or the error frame
    to answer with when it is not a JSON array that opens with a ticket object."""
    try:
        items = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return WRONG_FORMAT
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return WRONG_FORMAT
    if "ticket" not in items[0]:
        return server_error("NO_TICKET", "ticket 필드가 없습니다.")
    return items[1:]


def parse_request(data: str, position_of: dict[str, int]) -> Request | bytes:
    """The request, or the error frame to answer it with."""
    items = request_items(data)
    if isinstance(items, bytes):
        return items
    request = Request()
    for item in items:
        if not isinstance(item, dict):
            return WRONG_FORMAT
        if "format" in item:
            if item["format"] not in FORMATS:
                return server_error("INVALID_PARAM", f"지원하지 않는 format: {item['format']}")
            request.wire_format = item["format"]
            continue
        kind = item.get("type")
        if kind is None:
            return server_error("NO_TYPE", "type 필드가 없습니다.")
        if kind not in ("trade", "orderbook"):
            return server_error("WRONG_FORMAT", f"loopback does not serve type {kind}")
        codes = item.get("codes")
        if not isinstance(codes, list) or not codes:
            return server_error("NO_CODES", "codes 필드가 없습니다.")
        only_snapshot = _flag(item, "is_only_snapshot", "isOnlySnapshot")
        only_realtime = _flag(item, "is_only_realtime", "isOnlyRealtime")
        for code in codes:
            symbol, _, suffix = str(code).partition(".")
            if symbol != symbol.upper() or symbol not in position_of:
                return server_error("INVALID_PARAM", f"잘못된 코드입니다: {code}")
            position = position_of[symbol]
            if kind == "trade":
                request.trades.add(position)
            else:
                depth = int(suffix) if suffix.isdigit() else 30
                request.books[position] = depth if depth in BOOK_DEPTHS else 30
        if kind == "trade":
            request.trade_snapshot, request.trade_realtime = not only_realtime, not only_snapshot
        else:
            request.book_snapshot, request.book_realtime = not only_realtime, not only_snapshot
    return request


class Session:
    """A connected client: what it subscribed to, and its keepalive task."""

    def __init__(self, socket: web.WebSocketResponse, transport: asyncio.BaseTransport | None):
        self.socket = socket
        self.transport = transport
        self.wire_format = "DEFAULT"
        self.trades: set[int] = set()
        self.books: dict[int, int] = {}
        self.trades_realtime = False
        self.books_realtime = False
        self.silent_until = 0.0
        self.last_activity = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None

    @property
    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def apply(self, request: Request) -> None:
        self.wire_format = request.wire_format
        self.trades = set(request.trades)
        self.books = dict(request.books)
        self.trades_realtime = request.trade_realtime
        self.books_realtime = request.book_realtime

    async def send_all(self, frames: list[bytes]) -> None:
        """Send binary frames (Upbit never sends text frames); a dead peer is aborted."""
        if not frames or self.socket.closed:
            return
        try:
            for frame in frames:
                await self.socket.send_bytes(frame)
        except (ConnectionError, RuntimeError):
            self.abort()
            return
        self.last_activity = time.monotonic()

    def start_keepalive(self, every_s: float) -> None:
        """After a text ``PING``: ``{"status":"UP"}`` now and every ``every_s`` seconds."""
        if self._keepalive is None:
            self._keepalive = asyncio.create_task(self._keepalive_loop(every_s))

    async def _keepalive_loop(self, every_s: float) -> None:
        while not self.socket.closed:
            if not self.silent:
                await self.send_all([KEEPALIVE])
            await asyncio.sleep(every_s)

    def stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def abort(self) -> None:
        """Drop the TCP connection with no closing handshake (a server-side drop)."""
        self.stop_keepalive()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.abort()  # type: ignore[attr-defined]
