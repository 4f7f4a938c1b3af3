"""A protocol-faithful Upbit on loopback: REST (Quotation + Exchange) and the public WebSocket.

It speaks Upbit's wire protocol as recorded in protocols.md §A: the ``/v1`` REST paths with their
JSON layouts, JWT checks, ``Remaining-Req`` headers, 429/418 and the error envelope; the
``/websocket/v1`` socket with the array request, DEFAULT and SIMPLE formats, binary frames,
``PING`` -> ``{"status":"UP"}`` every 10 s and the idle close. Its market is the STOM simulator
(:mod:`engine.venues.upbit.loopback_market`), and orders placed through it trade against that
market (:mod:`engine.venues.upbit.loopback_exchange`).

Faults for tests and demos: :meth:`UpbitLoopback.drop_connections`, :meth:`inject_gap` (a silent
stall: Upbit has no sequence numbers, so a stalled stream is its only kind of gap),
:meth:`inject_malformed`, :meth:`inject_crossed` (one crossed orderbook message),
:meth:`inject_rate_limit`, :meth:`set_clock_skew`, :meth:`set_latency`.

Run it alone: ``python -m engine.venues.upbit.loopback --port 8765 --symbols KRW-BTC,KRW-ETH``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import time
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from engine.venues.upbit.loopback_auth import JwtVerifier, RateWindows
from engine.venues.upbit.loopback_exchange import LoopbackExchange
from engine.venues.upbit.loopback_frames import (
    encode,
    orderbook_message,
    trade_message,
)
from engine.venues.upbit.loopback_market import LoopbackMarket, TradeRecord
from engine.venues.upbit.loopback_private import PrivateHub
from engine.venues.upbit.loopback_rest import UpbitRestApi
from engine.venues.upbit.loopback_session import Session, parse_request

KEEPALIVE_EVERY_S = 10.0
DEFAULT_BALANCES = {"KRW": Decimal(10_000_000)}
MALFORMED_FRAMES = (
    b'{"ty":"trade","cd":"KRW-BTC","tp":10346',  # cut off mid-number
    b'{"ty":"orderbook","cd":"KRW-BTC","tms":"soon","obu":7}',  # wrong types
    b"\xff\xfe not json",
)


class UpbitLoopback(UpbitRestApi):
    """Upbit's REST and WebSocket protocol on 127.0.0.1, over the STOM market simulator."""

    def __init__(
        self,
        *,
        seed: int = 1,
        symbols: list[str] | None = None,
        api_key: str = "loopback-access-key",
        api_secret: str = "loopback-secret-key-0123456789abcdef",
        balances: dict[str, Decimal] | None = None,
        rate: float = 100.0,
        history_s: float = 900.0,
        tick_s: float = 0.05,
        idle_timeout_s: float = 120.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.symbols = list(symbols or ["KRW-BTC", "KRW-ETH", "KRW-XRP"])
        self._start_ns = time.time_ns() - int(history_s * 1e9)
        self.market = LoopbackMarket(self.symbols, seed=seed, rate=rate, start_ns=self._start_ns)
        self.exchange = LoopbackExchange(self.market, dict(balances or DEFAULT_BALANCES))
        self._auth = JwtVerifier(api_key, api_secret)
        self.rate_windows = RateWindows()
        self.tick_s = tick_s
        self.idle_timeout_s = idle_timeout_s
        self.host = host
        self.port = port
        self.skew_ns = 0
        self.latency_s = 0.0
        self.paused = False
        self.sessions: set[Session] = set()
        self.private = PrivateHub(self.exchange, self._auth, self.now_ns)
        """``/websocket/v1/private``: myOrder and myAsset from the exchange's state."""
        self.requests: dict[str, int] = {}
        """Requests received per path (tests check what reached the server)."""
        self.request_lines: list[str] = []
        """Every request received, ``METHOD /path?query`` in arrival order."""
        self._dirty: set[int] = set()
        self._malformed_pending = 0
        self._crossed_pending: set[int] = set()
        self._runner: web.AppRunner | None = None
        self._pump_task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/websocket/v1"

    async def start(self) -> None:
        # Catch the market up to now: the recent history backs candles and trades/ticks.
        self.market.advance(time.time_ns())
        self.market.drain_prints()
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        app.router.add_get("/websocket/v1/private", self.private.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._pump_task = asyncio.create_task(self._pump(), name="upbit-loopback-pump")

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        for session in list(self.sessions):
            session.abort()
        self.private.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> UpbitLoopback:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- faults and controls ------------------------------------------------------------------

    def drop_connections(self) -> int:
        """Cut every WebSocket connection without a closing handshake; returns how many."""
        sessions = list(self.sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    def inject_gap(self, seconds: float) -> None:
        """Stall every open connection: nothing is sent for ``seconds`` (keepalives neither)."""
        until = time.monotonic() + seconds
        for session in self.sessions:
            session.silent_until = until

    def inject_malformed(self, count: int = 1) -> None:
        """The next ``count`` broadcasts start with a malformed frame on every connection."""
        self._malformed_pending += count

    def inject_crossed(self, symbol: str) -> None:
        """The next orderbook message of ``symbol`` is crossed (its best bid above its best
        ask); the one after is the real book again, as after a glitch on the venue's side."""
        position = self.market.position_of[symbol]
        self._crossed_pending.add(position)
        self._dirty.add(position)

    def inject_rate_limit(
        self, status: int = 429, count: int = 1, retry_after_s: float | None = None
    ) -> None:
        """The next ``count`` Exchange requests get ``status`` (429 or 418)."""
        self.rate_windows.inject(status, count, retry_after_s)

    def set_clock_skew(self, seconds: float) -> None:
        """The venue's clock runs ``seconds`` ahead (negative: behind) of the real one."""
        self.skew_ns = int(seconds * 1e9)
        self.exchange.skew_ns = self.skew_ns

    def set_latency(self, seconds: float) -> None:
        """Delay every REST reply and every broadcast by ``seconds``."""
        self.latency_s = seconds

    def pause_market(self) -> None:
        """Freeze the simulated market (orders still work); for comparing books in tests."""
        self.paused = True

    def resume_market(self) -> None:
        self.paused = False

    def published_book(
        self, symbol: str, depth: int = 30
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """What an orderbook message for ``symbol`` carries now (decimals, from the touch)."""
        return self.market.published_book(symbol, depth)

    def now_ns(self) -> int:
        """The venue's clock (real time plus the injected skew)."""
        return time.time_ns() + self.skew_ns

    # --- market pump --------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            changed: set[int] = set()
            if not self.paused:
                changed, sim_trades = self.market.advance(time.time_ns())
                self.exchange.on_trades(sim_trades, time.time_ns())
            changed |= self._dirty
            self._dirty = set()
            prints = self.market.drain_prints()
            changed |= {trade.position for trade in prints}
            if not (changed or prints or self._malformed_pending):
                continue
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            await self._broadcast(changed, prints)

    async def _broadcast(self, changed: set[int], prints: list[TradeRecord]) -> None:
        malformed = MALFORMED_FRAMES[self._malformed_pending % len(MALFORMED_FRAMES)]
        send_malformed = self._malformed_pending > 0
        if send_malformed:
            self._malformed_pending -= 1
        cache: dict[tuple[Any, ...], bytes] = {}
        ts = self.now_ns()
        for session in list(self.sessions):
            if session.silent:
                continue
            frames: list[bytes] = [malformed] if send_malformed else []
            fmt = session.wire_format
            if session.trades_realtime:
                for trade in prints:
                    if trade.position in session.trades:
                        key: tuple[Any, ...] = ("t", trade.sequential_id, fmt)
                        if key not in cache:
                            message = trade_message(self.market, trade, self.skew_ns, "REALTIME")
                            cache[key] = encode(message, fmt)
                        frames.append(cache[key])
            if session.books_realtime:
                for position, depth in session.books.items():
                    if position in changed:
                        key = ("b", position, depth, fmt)
                        if key not in cache:
                            message = orderbook_message(
                                self.market, position, depth, ts, "REALTIME"
                            )
                            if position in self._crossed_pending:
                                _cross(message)
                            cache[key] = encode(message, fmt)
                        frames.append(cache[key])
            await session.send_all(frames)
        self._crossed_pending -= changed

    # --- WebSocket ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        session = Session(socket, request.transport)
        self.sessions.add(session)
        try:
            while True:
                wait = self.idle_timeout_s - (time.monotonic() - session.last_activity)
                try:
                    message = await socket.receive(timeout=max(0.01, wait))
                except TimeoutError:
                    if time.monotonic() - session.last_activity >= self.idle_timeout_s:
                        await socket.close()
                        break
                    continue
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                session.last_activity = time.monotonic()
                data = message.data if isinstance(message.data, str) else message.data.decode()
                if data.strip() == "PING":
                    session.start_keepalive(KEEPALIVE_EVERY_S)
                else:
                    await self._subscribe(session, data)
        finally:
            session.stop_keepalive()
            self.sessions.discard(session)
        return socket

    async def _subscribe(self, session: Session, data: str) -> None:
        request = parse_request(data, self.market.position_of)
        if isinstance(request, bytes):  # an error frame
            await session.send_all([request])
            return
        session.apply(request)
        frames: list[bytes] = []
        ts = self.now_ns()
        for position, depth in session.books.items():
            if request.book_snapshot:
                message = orderbook_message(self.market, position, depth, ts, "SNAPSHOT")
                frames.append(encode(message, session.wire_format))
        for position in session.trades:
            tape = self.market.tape[position]
            if request.trade_snapshot and tape:
                message = trade_message(self.market, tape[-1], self.skew_ns, "SNAPSHOT")
                frames.append(encode(message, session.wire_format))
        await session.send_all(frames)


def _cross(message: dict[str, Any]) -> None:
    """Make an orderbook message crossed: its best bid becomes its second-best ask."""
    units = message["orderbook_units"]
    if len(units) > 1:
        units[0]["bid_price"] = units[1]["ask_price"]


def main(argv: list[str] | None = None) -> None:
    """Run the loopback server until interrupted (prints its URLs and the demo keys)."""
    parser = argparse.ArgumentParser(description="Upbit protocol server on loopback (STOM)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--symbols", default="KRW-BTC,KRW-ETH,KRW-XRP")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0, help="simulated events per second")
    args = parser.parse_args(argv)
    api_key, api_secret = secrets.token_hex(16), secrets.token_hex(32)

    async def serve() -> None:
        server = UpbitLoopback(
            seed=args.seed,
            symbols=args.symbols.split(","),
            api_key=api_key,
            api_secret=api_secret,
            rate=args.rate,
            port=args.port,
        )
        async with server:
            print(f"REST      {server.rest_url}")
            print(f"WebSocket {server.ws_url}")
            print(f"access key {api_key}  secret key {api_secret}  (loopback only)")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
