"""The Kiwoom loopback's realtime connections: login, registrations, keepalive, sending.

Each connection must ``LOGIN`` with a valid token first (answered with its ack, or refused with
``100013`` and closed); then ``REG``/``REMOVE`` add or drop items and types (``refresh`` ``"0"``
replaces what was registered), each acknowledged. The server sends ``PING`` every interval and
drops a connection that did not echo the previous one (protocols.md §C.6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

_ENCODE = msgspec.json.encode
_DECODE = msgspec.json.Decoder(dict[str, Any])


def ack(trnm: str, return_code: int = 0, return_msg: str = "") -> str:
    """The server's answer to ``trnm`` (``LOGIN``, ``REG``, ``REMOVE``)."""
    return _ENCODE({"trnm": trnm, "return_code": return_code, "return_msg": return_msg}).decode()


class RealtimeClient:
    """One realtime connection and what it registered."""

    __slots__ = ("items", "pinged", "socket", "types")

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.items: set[str] = set()
        self.types: set[str] = set()
        self.pinged = False

    def register(self, trnm: str, frame: dict[str, Any]) -> None:
        """Apply a ``REG`` or ``REMOVE`` frame to what this connection receives."""
        if frame.get("refresh") == "0" and trnm == "REG":
            self.items.clear()
            self.types.clear()
        for entry in frame.get("data") or []:
            items = set(entry.get("item") or [])
            types = set(entry.get("type") or [])
            if trnm == "REG":
                self.items |= items
                self.types |= types
            else:
                self.items -= items

    async def send_real(self, items: list[Any]) -> bool:
        """One ``REAL`` frame of ``items``; False when the connection is already gone."""
        payload = _ENCODE({"trnm": "REAL", "data": items}).decode()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.socket.send_str(payload)
            return True
        return False


class RealtimeClients:
    """The logged-in connections (see the module docstring)."""

    def __init__(self, authorized: Callable[[str], bool]) -> None:
        self._authorized = authorized
        self._clients: list[RealtimeClient] = []

    def __iter__(self) -> Iterator[RealtimeClient]:
        return iter(list(self._clients))

    async def serve(
        self, request: web.Request, on_registered: Callable[[str], None]
    ) -> web.StreamResponse:
        """One connection, from its login until it closes; ``on_registered`` is called with each
        item a registration leaves registered."""
        socket = web.WebSocketResponse(autoping=True, timeout=1.0)
        await socket.prepare(request)
        client = RealtimeClient(socket)
        try:
            login = _frame(await socket.receive(timeout=30))
            token = str(login.get("token", "")) if login else ""
            if not login or login.get("trnm") != "LOGIN" or not self._authorized(token):
                await socket.send_str(ack("LOGIN", 100013, "인증 실패"))
                return socket
            await socket.send_str(ack("LOGIN"))
            self._clients.append(client)
            async for message in socket:
                frame = _frame(message)
                if frame is not None:
                    await self._on_frame(client, frame, on_registered)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)
        return socket

    async def _on_frame(
        self, client: RealtimeClient, frame: dict[str, Any], on_registered: Callable[[str], None]
    ) -> None:
        trnm = frame.get("trnm")
        if trnm == "PING":
            client.pinged = False
        elif trnm in ("REG", "REMOVE"):
            client.register(trnm, frame)
            await client.socket.send_str(ack(trnm))
            for code in client.items:
                on_registered(code)

    async def ping(self) -> None:
        """PING every connection; one that did not echo the previous PING is closed."""
        for client in list(self._clients):
            if client.pinged:
                await client.socket.close(message=b"PING not echoed")
                continue
            client.pinged = True
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.socket.send_str('{"trnm":"PING"}')

    async def close_all(self) -> None:
        """Close every connection from the server side."""
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.socket.close()


def _frame(message: Any) -> dict[str, Any] | None:
    if message.type != WSMsgType.TEXT:
        return None
    try:
        return _DECODE.decode(message.data)
    except msgspec.DecodeError:
        return None
