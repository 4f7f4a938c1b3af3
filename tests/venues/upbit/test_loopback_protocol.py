"""The loopback's WebSocket speaks Upbit's protocol: binary frames, PING, errors, idle close."""

from __future__ import annotations

import asyncio
import json

import websockets

from engine.venues.upbit.loopback import UpbitLoopback
from tests.venues.upbit.support import SYMBOLS


async def test_frames_are_binary_ping_answers_status_up_and_errors_are_named() -> None:
    server = UpbitLoopback(seed=2, symbols=SYMBOLS, history_s=5.0, idle_timeout_s=0.5)
    async with server, websockets.connect(server.ws_url) as socket:
        await socket.send("PING")
        frame = await asyncio.wait_for(socket.recv(), 5)
        assert isinstance(frame, bytes) and json.loads(frame) == {"status": "UP"}

        await socket.send(json.dumps([{"type": "trade", "codes": ["KRW-BTC"]}]))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["error"]["name"] == "NO_TICKET"
        await socket.send(json.dumps([{"ticket": "t"}, {"type": "trade", "codes": ["krw-btc"]}]))
        error = json.loads(await asyncio.wait_for(socket.recv(), 5))["error"]
        assert error["name"] == "INVALID_PARAM"

        # Snapshot first (both flags omitted), then the realtime stream, in the SIMPLE format.
        await socket.send(
            json.dumps(
                [
                    {"ticket": "t"},
                    {"type": "orderbook", "codes": ["KRW-BTC.5"]},
                    {"format": "SIMPLE"},
                ]
            )
        )
        first = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert first["ty"] == "orderbook" and first["st"] == "SNAPSHOT"
        assert len(first["obu"]) == 5
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 5))
            if message.get("ty") == "orderbook":
                assert message["st"] == "REALTIME"
                break


async def test_an_idle_connection_is_closed_by_the_server() -> None:
    server = UpbitLoopback(seed=2, symbols=SYMBOLS, history_s=5.0, idle_timeout_s=0.3)
    async with server, websockets.connect(server.ws_url) as socket:
        # No request, no PING: nothing flows either way, so the server closes it.
        await asyncio.wait_for(socket.wait_closed(), 5)
        assert socket.close_code is not None
