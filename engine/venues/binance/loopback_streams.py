"""The loopback server's market streams: frames in Binance's layouts, connections, control.

Stream names (protocols.md §B.6): ``<sym>@trade``, ``<sym>@depth`` and ``<sym>@depth@100ms``
(diffs with contiguous ``U``/``u``), ``<sym>@bookTicker``. Connections are combined
(``/stream?streams=a/b``: ``{"stream", "data"}`` wrapping) or raw (``/ws/<stream>``, ``/ws``), and
take live ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` requests. The server pings every
20 s (aiohttp's heartbeat) and drops a peer that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from engine.domain.market_data import ASK, BID
from engine.venues.binance.loopback_market import LoopbackMarket, PublicTrade, SymbolBook, e8_text

PING_INTERVAL_S = 20.0
_encode = msgspec.json.encode
Frame = tuple[str, dict[str, Any]]


def trade_frame(symbol: str, trade: PublicTrade) -> dict[str, Any]:
    """``<sym>@trade`` payload."""
    return {"e": "trade", "E": trade.time_ms, "s": symbol, "t": trade.trade_id,
            "p": e8_text(trade.price), "q": e8_text(trade.qty), "T": trade.time_ms,
            "m": trade.buyer_is_maker, "M": True}  # fmt: skip


def depth_frame(
    symbol: str, now_ms: int, first: int, last: int, changes: list[tuple[int, int, int]]
) -> dict[str, Any]:
    """``<sym>@depth@100ms`` payload: absolute quantities of the levels changed in ``[U; u]``."""
    bids = [[e8_text(price), e8_text(qty)] for side, price, qty in changes if side == BID]
    asks = [[e8_text(price), e8_text(qty)] for side, price, qty in changes if side == ASK]
    return {"e": "depthUpdate", "E": now_ms, "s": symbol, "U": first, "u": last,
            "b": bids, "a": asks}  # fmt: skip


def book_ticker_frame(book: SymbolBook) -> dict[str, Any]:
    """``<sym>@bookTicker`` payload (no event type or time, as on Binance)."""
    bid = book.levels(BID, 1) or [(0, 0)]
    ask = book.levels(ASK, 1) or [(0, 0)]
    return {"u": book.update_id, "s": book.profile.symbol,
            "b": e8_text(bid[0][0]), "B": e8_text(bid[0][1]),
            "a": e8_text(ask[0][0]), "A": e8_text(ask[0][1])}  # fmt: skip


def market_frames(
    market: LoopbackMarket, trades: list[tuple[str, PublicTrade]], now_ms: int
) -> list[Frame]:
    """The frames of one market tick: its trades, then one diff per changed book."""
    frames: list[Frame] = [(f"{s.lower()}@trade", trade_frame(s, t)) for s, t in trades]
    for symbol, (first, last, changes) in market.drain_changes().items():
        lower = symbol.lower()
        diff = depth_frame(symbol, now_ms, first, last, changes)
        frames.append((f"{lower}@depth@100ms", diff))
        frames.append((f"{lower}@depth", diff))
        frames.append((f"{lower}@bookTicker", book_ticker_frame(market.books[symbol])))
    return frames


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    combined: bool
    streams: set[str] = field(default_factory=set)


class StreamHub:
    """Every open stream connection, and what each subscribed to."""

    def __init__(self) -> None:
        self._connections: set[_Connection] = set()
        self.latency_s = 0.0

    def __len__(self) -> int:
        return len(self._connections)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /stream?streams=…``, ``/ws/<stream>`` or ``/ws``: one client connection."""
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        socket = web.WebSocketResponse(heartbeat=PING_INTERVAL_S, autoping=True)
        await socket.prepare(request)
        combined = request.path == "/stream"
        connection = _Connection(socket, combined)
        if combined:
            connection.streams.update(s for s in request.query.get("streams", "").split("/") if s)
        elif "name" in request.match_info:
            connection.streams.add(request.match_info["name"])
        self._connections.add(connection)
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await socket.send_str(_encode(control_reply(connection, message.data)).decode())
        finally:
            self._connections.discard(connection)
        return socket

    async def broadcast(self, frames: list[Frame]) -> None:
        for connection in list(self._connections):
            for stream, data in frames:
                if stream not in connection.streams:
                    continue
                body = {"stream": stream, "data": data} if connection.combined else data
                try:
                    await connection.socket.send_str(_encode(body).decode())
                except (ConnectionError, RuntimeError):
                    self._connections.discard(connection)
                    break

    async def send_text(self, texts: list[str]) -> None:
        """Send raw text frames to everyone (malformed-frame injection)."""
        for connection in list(self._connections):
            for text in texts:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await connection.socket.send_str(text)

    async def close_all(self) -> None:
        for connection in list(self._connections):
            await connection.socket.close(code=1001, message=b"server going away")
        self._connections.clear()


def control_reply(connection: _Connection, text: str) -> dict[str, Any]:
    """Live subscription control (protocols.md §B.6)."""
    try:
        request = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}
    if not isinstance(request, dict):
        return {"error": {"code": 2, "msg": "Invalid request"}}
    method, params, ident = request.get("method"), request.get("params") or [], request.get("id")
    if method == "SUBSCRIBE":
        connection.streams.update(str(p) for p in params)
        return {"result": None, "id": ident}
    if method == "UNSUBSCRIBE":
        connection.streams.difference_update(str(p) for p in params)
        return {"result": None, "id": ident}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(connection.streams), "id": ident}
    return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": ident}
