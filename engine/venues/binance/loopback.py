"""Binance spot on loopback: REST and market streams, driven by the simulator, with fault injection.

A protocol-faithful stand-in for ``api.binance.com`` and ``stream.binance.com`` (protocols.md §B)
for tests and ``stom demo --venue binance``. One aiohttp server answers both:

- REST ``/api/v3/…`` (:mod:`engine.venues.binance.loopback_routes`): ``X-MBX-APIKEY`` checks
  (``-2014``/``-2015``), HMAC-SHA256 over the query string and body exactly as sent (``-1022``),
  ``timestamp``/``recvWindow`` (``-1021``, ``-1131``), request weight per minute in
  ``X-MBX-USED-WEIGHT-1M``, 429 ``-1003`` with ``Retry-After`` past the limit and 418 for those
  who keep going; orders match against the simulated book (:mod:`…loopback_exchange`).
- Streams ``/stream?streams=a/b`` (combined, ``{"stream","data"}``), ``/ws/<stream>`` (raw) and
  live ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``; ``<sym>@trade``, ``<sym>@depth`` and
  ``@depth@100ms`` diffs with contiguous ``U``/``u``, ``<sym>@bookTicker``; server pings every 20 s.

Faults: :meth:`drop_connections`, :meth:`inject_gap`, :meth:`inject_malformed`,
:meth:`inject_rate_limit`, :meth:`set_clock_skew`, :meth:`set_latency`,
:meth:`set_snapshot_latency`, :meth:`inject_crossed`, :meth:`announce_shutdown`;
:meth:`pause_market` freezes the simulator so a test can compare books, and :meth:`nudge` makes
a visible change.
Run standalone with ``python -m engine.venues.binance.loopback --port 8801``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from engine.config.secrets import Secret
from engine.domain.market_data import ASK, BID
from engine.venues.binance.loopback_exchange import BinanceError, LoopbackExchange
from engine.venues.binance.loopback_market import LoopbackMarket, e8_text
from engine.venues.binance.loopback_private import UserDataHub
from engine.venues.binance.loopback_routes import LoopbackApi, depth_weight
from engine.venues.binance.loopback_streams import StreamHub, depth_frame, market_frames

RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000
BAN_S = 120
DEFAULT_BALANCES = {"USDT": "100000", "BTC": "1", "ETH": "10", "SOL": "100", "XRP": "10000"}
_encode = msgspec.json.encode


@dataclass
class RequestRecord:
    """One REST request as the server saw it (for tests: what reached the venue)."""

    method: str
    path: str
    status: int
    code: int | None


class BinanceLoopback:
    """Binance spot REST + market streams on 127.0.0.1 (``port=0``: a free port)."""

    def __init__(
        self,
        seed: int = 1,
        symbols: list[str] | tuple[str, ...] = ("BTCUSDT",),
        api_key: str | Secret = "loopback-api-key",
        api_secret: str | Secret = "loopback-api-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float = 200.0,
        warmup_s: float = 60.0,
        tick_s: float = 0.1,
        balances: dict[str, str] | None = None,
        weight_limit: int = 6000,
    ) -> None:
        self._api_key = api_key.reveal() if isinstance(api_key, Secret) else api_key
        self._api_secret = api_secret.reveal() if isinstance(api_secret, Secret) else api_secret
        self._host, self._port = host, port
        self._tick_s = tick_s
        self._skew_ms = 0
        self._latency_s = 0.0
        self._snapshot_latency_s = 0.0
        now_ms = self.server_time_ms()
        self.market = LoopbackMarket(
            list(symbols), seed=seed, rate=rate, start_ms=now_ms - int(warmup_s * 1000)
        )
        self.market.advance(now_ms)
        self.market.drain_changes()
        self.exchange = LoopbackExchange(self.market, balances or DEFAULT_BALANCES)
        self.api = LoopbackApi(self.market, self.exchange, weight_limit)
        self.weight_limit = weight_limit
        self.requests: list[RequestRecord] = []
        self._weight_minute = -1
        self._weight_used = 0
        self._limited_in_minute = False
        self._banned_until_ms = 0
        self._forced: list[tuple[int, int]] = []
        self._gap_pending: set[str] = set()
        self._paused = False
        self.streams = StreamHub()
        self.user_data = UserDataHub(
            self.exchange, self._api_key, self._api_secret, self.server_time_ms
        )
        """``/ws-api/v3``: the user data stream, from the exchange's state (loopback_private)."""
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/v3/{path:.+}", self._rest)
        app.router.add_get("/stream", self.streams.handle)
        app.router.add_get("/ws", self.streams.handle)
        app.router.add_get("/ws/{name:.+}", self.streams.handle)
        app.router.add_get("/ws-api/v3", self.user_data.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="binance-lb")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.drop_connections()
        await self.user_data.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    def server_time_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._skew_ms

    # --- faults and controls ------------------------------------------------------------------

    async def drop_connections(self) -> None:
        """Close every stream connection from the server side (clients must reconnect)."""
        await self.streams.close_all()

    def inject_gap(self, symbol: str) -> None:
        """Lose one diff: the book changes and the ids move on, but the event is never sent."""
        self.market.change_deepest(symbol, BID)
        self.market.drain_changes(only=symbol)

    def nudge(self, symbol: str, side: int = ASK) -> None:
        """A visible change (the deepest level of ``side``) even while the market is paused."""
        self.market.change_deepest(symbol, side)

    async def inject_malformed(self) -> None:
        """Send every stream connection a truncated frame and a frame with a bad number."""
        symbol = next(iter(self.market.books)).lower()
        truncated = f'{{"stream":"{symbol}@trade","data":{{"e":"trade","E":'
        bad = _encode(
            {
                "stream": f"{symbol}@trade",
                "data": {"e": "trade", "E": 1, "s": symbol.upper(), "t": 1, "p": "1.2.3",
                         "q": "1", "T": 1, "m": True, "M": True},
            }
        ).decode()  # fmt: skip
        await self.streams.send_text([truncated, bad])

    def inject_rate_limit(self, status: int = 429, retry_after_s: int = 1, count: int = 1) -> None:
        """Answer the next ``count`` REST requests with ``status`` (429 or 418) and ``-1003``."""
        self._forced += [(status, retry_after_s)] * count

    def set_clock_skew(self, skew_ms: int) -> None:
        """Run the server's clock ``skew_ms`` ahead (negative: behind) of the machine's."""
        self._skew_ms = skew_ms

    def set_latency(self, seconds: float) -> None:
        """Delay every REST reply (and stream handshake) by ``seconds``."""
        self._latency_s = seconds
        self.streams.latency_s = seconds

    def set_snapshot_latency(self, seconds: float) -> None:
        """Delay only ``GET /api/v3/depth`` by ``seconds`` (a slow book snapshot: the stream
        keeps flowing while the client's book waits for it)."""
        self._snapshot_latency_s = seconds

    async def inject_crossed(self, symbol: str) -> None:
        """Send one diff that puts a bid above the best ask (a crossed book), ids contiguous.

        The level is not in the server's own book, so a fresh snapshot is clean again: the
        glitch a client must drop and resync from, never trade on.
        """
        book = self.market.books[symbol]
        best_ask = book.levels(ASK, 1)[0][0]
        book.update_id += 1
        crossing = [(BID, best_ask + book.profile.tick_e8, book.profile.step_e8)]
        diff = depth_frame(symbol, self.server_time_ms(), book.update_id, book.update_id, crossing)
        lower = symbol.lower()
        await self.streams.broadcast([(f"{lower}@depth@100ms", diff), (f"{lower}@depth", diff)])

    async def announce_shutdown(self) -> None:
        """Send ``serverShutdown`` on every connection, as before a maintenance disconnect."""
        event = {"e": "serverShutdown", "E": self.server_time_ms()}
        await self.streams.send_text([_encode(event).decode()])

    def pause_market(self) -> None:
        self._paused = True

    def resume_market(self) -> None:
        self._paused = False

    def book(self, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The published book as Binance text (``(bids, asks)``, from the touch outwards)."""
        book = self.market.books[symbol]
        return (
            [(e8_text(p), e8_text(q)) for p, q in book.levels(BID)],
            [(e8_text(p), e8_text(q)) for p, q in book.levels(ASK)],
        )

    def update_id(self, symbol: str) -> int:
        return self.market.books[symbol].update_id

    # --- market ticks -------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            await self._publish()

    async def _publish(self) -> None:
        now_ms = self.server_time_ms()
        trades = [] if self._paused else self.market.advance(now_ms)
        self.exchange.match_resting(trades, now_ms)
        self.user_data.sync()
        trades += self.exchange.new_trades
        self.exchange.new_trades = []
        frames = market_frames(self.market, trades, now_ms)
        if frames and len(self.streams):
            await self.streams.broadcast(frames)

    # --- REST ---------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        path = request.match_info["path"]
        if path == "depth" and self._snapshot_latency_s:
            await asyncio.sleep(self._snapshot_latency_s)
        body_text = (await request.read()).decode("utf-8", "replace")
        query_text = request.rel_url.raw_query_string
        params = dict(parse_qsl(body_text, keep_blank_values=True))
        params.update(parse_qsl(query_text, keep_blank_values=True))
        now_ms = self.server_time_ms()
        status, code, body = 200, None, None
        headers: dict[str, str] = {}
        try:
            route = self.api.route(request.method, path)
            if route is None:
                raise BinanceError(-1000, f"Unknown endpoint {request.method} /api/v3/{path}", 404)
            handler, signed, weight = route
            self._charge(_weight(path, request.method, params, weight), now_ms, headers)
            if signed:
                self._authenticate(request, query_text, body_text, params, now_ms)
            body = handler(self.api, params, now_ms)
            self.user_data.sync()  # the order events this request caused, before its reply
        except BinanceError as error:
            status, code, body = error.status, error.code, {"code": error.code, "msg": error.msg}
        headers["X-MBX-USED-WEIGHT-1M"] = str(self._weight_used)
        self.requests.append(RequestRecord(request.method, path, status, code))
        return web.Response(
            body=_encode(body), status=status, headers=headers, content_type="application/json"
        )

    def _charge(self, weight: int, now_ms: int, headers: dict[str, str]) -> None:
        minute = now_ms // 60_000
        if minute != self._weight_minute:
            self._weight_minute, self._weight_used, self._limited_in_minute = minute, 0, False
        self._weight_used += weight
        if self._forced:
            status, retry_after = self._forced.pop(0)
            headers["Retry-After"] = str(retry_after)
            raise _too_many(status, now_ms + retry_after * 1000)
        if now_ms < self._banned_until_ms:
            headers["Retry-After"] = str(-(-(self._banned_until_ms - now_ms) // 1000))
            raise _too_many(418, self._banned_until_ms)
        if self._weight_used > self.weight_limit:
            if self._limited_in_minute:  # kept going after a 429: IP ban
                self._banned_until_ms = now_ms + BAN_S * 1000
                headers["Retry-After"] = str(BAN_S)
                raise _too_many(418, self._banned_until_ms)
            self._limited_in_minute = True
            headers["Retry-After"] = str(60 - (now_ms // 1000) % 60)
            raise _too_many(429, 0)

    def _authenticate(
        self, request: web.Request, query: str, body: str, params: dict[str, str], now_ms: int
    ) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        for name in ("signature", "timestamp"):
            if not params.get(name):
                raise BinanceError(
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
        payload = _without_signature(query) + _without_signature(body)
        expected = hmac.new(self._api_secret.encode(), payload.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), params["signature"].lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        try:
            window = float(params.get("recvWindow") or RECV_WINDOW_DEFAULT)
            timestamp = int(params["timestamp"])
        except ValueError:
            raise BinanceError(
                -1100, "Illegal characters found in parameter 'timestamp'."
            ) from None
        if window > RECV_WINDOW_MAX:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        if timestamp >= now_ms + 1000:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now_ms - timestamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _weight(path: str, method: str, params: dict[str, str], default: int) -> int:
    if path == "depth":
        limit = params.get("limit", "100")
        return depth_weight(int(limit) if limit.isdigit() else 100)
    if path == "openOrders" and method == "GET" and not params.get("symbol"):
        return 80
    if path == "myTrades" and params.get("orderId"):
        return 5
    return default


def _without_signature(text: str) -> str:
    return "&".join(part for part in text.split("&") if part and not part.startswith("signature="))


def _too_many(status: int, until_ms: int) -> BinanceError:
    if status == 418:
        message = (
            f"Way too much request weight used; IP banned until {until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
    else:
        message = (
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        )
    return BinanceError(-1003, message, status)


async def _serve(args: argparse.Namespace) -> None:
    server = BinanceLoopback(
        seed=args.seed,
        symbols=args.symbols.split(","),
        api_key=args.api_key,
        api_secret=args.api_secret,
        port=args.port,
        rate=args.rate,
    )
    await server.start()
    print(f"Binance loopback: REST {server.rest_url}  streams {server.ws_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m engine.venues.binance.loopback``: serve until interrupted."""
    parser = argparse.ArgumentParser(description="Binance spot loopback server (simulated market)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=200.0, help="simulated events per second")
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    parser.add_argument("--api-key", default="loopback-api-key")
    parser.add_argument("--api-secret", default="loopback-api-secret")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
