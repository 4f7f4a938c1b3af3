"""Private streams against servers that go quiet or keep talking: a connection silent past its
limit is dropped with the reason and opened again, and a stream being stopped always stops,
whatever frame is arriving as the stop lands (raw WebSocket servers on loopback, speaking each
venue's handshake as its document gives it: Upbit's ``PING`` answered ``{"status":"UP"}``,
Kiwoom's ``LOGIN`` and ``REG`` acknowledged with ``return_code`` 0)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from websockets.asyncio.server import ServerConnection, serve

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.venues.base import Balance, VenueOrderState
from engine.venues.kiwoom.private_stream import KiwoomPrivateStream
from engine.venues.private_stream import StreamBase
from engine.venues.upbit.private_stream import UpbitPrivateStream

Handler = Callable[[ServerConnection], Awaitable[None]]


class Listener:
    def __init__(self) -> None:
        self.connected = 0
        self.reasons: list[str] = []

    def on_order(self, state: VenueOrderState) -> None:
        pass

    def on_balances(self, balances: list[Balance]) -> None:
        pass

    def on_connected(self) -> None:
        self.connected += 1

    def on_disconnected(self, reason: str) -> None:
        self.reasons.append(reason)


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def upbit_server(talk: bool) -> Handler:
    """Upbit's private endpoint: the subscription, then ``PING`` answered ``UP``; afterwards
    silent (``talk`` False: a dead connection) or a frame every millisecond."""

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()  # the subscription
        await connection.recv()  # PING
        await connection.send(json.dumps({"status": "UP"}).encode())
        if not talk:
            await connection.wait_closed()
            return
        while True:
            await connection.send(json.dumps({"status": "UP"}).encode())
            await asyncio.sleep(0.001)

    return handler


def kiwoom_server(talk: bool) -> Handler:
    async def handler(connection: ServerConnection) -> None:
        for trnm in ("LOGIN", "REG"):
            request = json.loads(await connection.recv())
            assert request["trnm"] == trnm
            await connection.send(json.dumps({"trnm": trnm, "return_code": 0}))
        if not talk:
            await connection.wait_closed()
            return
        while True:
            await connection.send(json.dumps({"trnm": "PING"}))
            await asyncio.sleep(0.001)

    return handler


async def token() -> Secret:
    return Secret("t" * 32)


def upbit(url: str, silence_s: float) -> UpbitPrivateStream:
    return UpbitPrivateStream(url, access_key=Secret("a" * 32), secret_key=Secret("s" * 32),
                              stall_timeout_s=silence_s, backoff=Backoff(0.01, 0.05))  # fmt: skip


def kiwoom(url: str, silence_s: float) -> KiwoomPrivateStream:
    return KiwoomPrivateStream(url, token=token, idle_timeout_s=silence_s,
                               backoff=Backoff(0.01, 0.05))  # fmt: skip


STREAMS: list[tuple[str, Callable[[bool], Handler], Callable[[str, float], StreamBase]]] = [
    ("upbit", upbit_server, upbit),
    ("kiwoom", kiwoom_server, kiwoom),
]


async def test_a_silent_connection_is_dropped_with_the_reason_and_opened_again() -> None:
    for venue, make_server, make_stream in STREAMS:
        async with server(make_server(False)) as url:
            stream = make_stream(url, 0.3)
            listener = Listener()
            task = asyncio.create_task(stream.run(listener))
            try:
                async with asyncio.timeout(10):
                    while listener.connected < 3:
                        await asyncio.sleep(0.02)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert listener.reasons, venue
            assert all("nothing received for 0.3 s" in reason for reason in listener.reasons), (
                venue,
                listener.reasons,
            )
            assert stream.health.reconnects >= 2, venue


async def test_a_stream_stops_whenever_the_stop_lands() -> None:
    """Cancelled at random moments while frames arrive every millisecond, it always ends (a
    cancellation swallowed by a receive finishing at that moment would leave it running)."""
    rng = random.Random(5)
    for venue, make_server, make_stream in STREAMS:
        async with server(make_server(True)) as url:
            for _ in range(40):
                stream = make_stream(url, 5.0)
                listener = Listener()
                task = asyncio.create_task(stream.run(listener))
                async with asyncio.timeout(5):
                    while not listener.connected:
                        await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0, 0.01))
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=2)
                assert done, f"{venue}: the stream did not stop"
                assert task.cancelled(), venue
