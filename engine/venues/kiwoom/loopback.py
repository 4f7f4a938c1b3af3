"""A Kiwoom REST + realtime server on loopback, speaking the venue's wire protocol.

For the adapter's tests and ``stom demo --venue kiwoom``. REST (protocols.md §C.2-C.5): every call
is ``POST`` with a JSON body and the TR in the ``api-id`` header; tokens from ``au10001`` with a KST
``expires_dt``; ``return_code`` / ``return_msg`` in every body; ``cont-yn`` / ``next-key`` paging;
refused tokens answer HTTP 401 with 8005; rate limiting answers 1700. Realtime (§C.6): ``LOGIN``
then its ack, ``PING`` that must be echoed, ``REG`` with item/type arrays, ``REAL`` frames with a
scalar item and a FID map. The market is the simulator's (:mod:`.loopback_market`), orders go to
one account's desk (:mod:`.loopback_exchange`).

Faults for tests: :meth:`drop_connections`, :meth:`skip_trades` (a gap), :meth:`hold_books`,
:meth:`send_malformed`, :meth:`rate_limit`, :attr:`latency_s`, :attr:`skew_s` (the server's clock),
:meth:`expire_tokens`. Run standalone: ``python -m engine.venues.kiwoom.loopback``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import logging
import secrets
import time
from collections import deque
from typing import Any

import msgspec
from aiohttp import web

from engine.domain.clock import Clock, LiveClock
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.loopback_exchange import Desk, DeskRefusal
from engine.venues.kiwoom.loopback_market import LoopbackMarket
from engine.venues.kiwoom.loopback_private import REAL_ORDER, OrderEvents
from engine.venues.kiwoom.loopback_realtime import RealtimeClients
from engine.venues.kiwoom.loopback_routes import AccountRoutes

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("005930", "000660", "035720")
_ENCODE = msgspec.json.encode
_DECODE = msgspec.json.Decoder(dict[str, Any])


class KiwoomLoopback:
    """Kiwoom on 127.0.0.1: REST and realtime, one account, simulated KRX stocks."""

    def __init__(
        self,
        *,
        seed: int = 7,
        symbols: list[str] | tuple[str, ...] = DEFAULT_SYMBOLS,
        api_key: str = "loopback-app-key",
        api_secret: str = "loopback-secret-key",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rate: float = 60.0,
        tick_s: float = 0.02,
        ping_interval_s: float = 10.0,
        token_ttl_s: float = 86_400.0,
        requests_per_second: float | None = None,
        cash: int = 100_000_000,
        holdings: dict[str, int] | None = None,
        segments: dict[str, str] | None = None,
    ) -> None:
        """``segments``: the market ``ka10100`` reports per code (``ETF``, ``ETN``, ``ELW``,
        ``KOSDAQ``, ``KONEX``; absent: ``KOSPI``), which sets its tick grid and sell tax."""
        self._clock = clock or LiveClock()
        self._app_key = api_key
        self._secret = api_secret
        self._host = host
        self._port = port
        self._tick_s = tick_s
        self._ping_interval_s = ping_interval_s
        self._token_ttl_ns = int(token_ttl_s * wire.NS)
        self._requests_per_second = requests_per_second
        now = self._clock.now_ns()
        # Stamps follow the server's clock: a client judges feed age by them (frames carry only
        # HHMMSS in KST, so a made-up session time would look hours stale).
        self._start_ns = now
        self.market = LoopbackMarket(list(symbols), seed=seed, rate=rate, start_ns=self._start_ns)
        self.desk = Desk(
            cash,
            holdings if holdings is not None else {s: 1000 for s in symbols},
            segments=segments,
            now_ns=self._clock.now_ns,
        )
        self._routes = AccountRoutes(self)
        self.order_events = OrderEvents(self.desk, lambda code: self.market.by_code[code].name)
        """``00`` (주문체결): the account's order events, from the desk (loopback_private)."""
        self._tokens: dict[str, int] = {}
        self._realtime_clients = RealtimeClients(lambda token: self._authorized(f"Bearer {token}"))
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started_mono = 0.0
        self._recent: deque[float] = deque()
        # Faults and counters.
        self.latency_s = 0.0
        self.skew_s = 0.0
        self._rate_limit_left = 0
        self._skip: dict[str, int] = {}
        self._held_books: set[str] = set()
        self.paused = False
        self.tokens_issued = 0
        self.rate_limited = 0
        self.refused_tokens: list[int] = []
        """Return code of every call refused for its token."""
        self.requests: list[str] = []
        """``api-id`` of every REST call, in order."""
        self.rest_url = ""
        self.ws_url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._rest)
        app.router.add_get(wire.WS_PATH, self._realtime)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, shutdown_timeout=1.0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.rest_url = f"http://{self._host}:{port}"
        self.ws_url = f"ws://{self._host}:{port}{wire.WS_PATH}"
        self._started_mono = time.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._drive(), name="kiwoom-loopback-market"),
            loop.create_task(self._ping(), name="kiwoom-loopback-ping"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- faults --------------------------------------------------------------------------------

    async def drop_connections(self) -> None:
        """Close every realtime connection from the server side."""
        await self._realtime_clients.close_all()

    def skip_trades(self, code: str, count: int = 1) -> None:
        """Lose the next ``count`` trades of ``code`` on the wire (cumulative volume goes on)."""
        self._skip[code] = self._skip.get(code, 0) + count

    def hold_books(self, code: str, held: bool = True) -> None:
        """Stop (or resume) sending ``0D`` frames of ``code``."""
        if held:
            self._held_books.add(code)
        else:
            self._held_books.discard(code)
            self.market.by_code[code].book_changed = True

    async def send_malformed(self) -> None:
        """One frame that is not JSON and one ``REAL`` frame with a bad value, to every client."""
        bad_value = {
            "trnm": "REAL",
            "data": [{"type": "0B", "item": "005930", "values": {"10": "abc", "20": "x"}}],
        }
        for client in list(self._realtime_clients):
            with contextlib.suppress(Exception):
                await client.socket.send_str('{"trnm":"REAL","data":[{')
                await client.socket.send_str(_ENCODE(bad_value).decode())

    def rate_limit(self, count: int = 1) -> None:
        """Answer the next ``count`` REST calls (other than tokens) with 1700 / HTTP 429."""
        self._rate_limit_left += count

    def expire_tokens(self) -> None:
        """Every issued token stops working (the next call gets 8005)."""
        self._tokens.clear()

    def book(self, code: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ten ``(bids, asks)`` the server shows for ``code``."""
        stock = self.market.by_code[code]
        return stock.top(0), stock.top(1)

    def now_ns(self) -> int:
        """The server's clock (skewed by :attr:`skew_s`)."""
        return self._clock.now_ns() + int(self.skew_s * wire.NS)

    # --- REST ----------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        api_id = request.headers.get("api-id", "")
        self.requests.append(api_id)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        path = "/" + request.match_info["path"]
        try:
            body = _DECODE.decode(await request.read() or b"{}")
        except msgspec.DecodeError:
            return self._answer(
                400, {"return_code": 1501, "return_msg": "요청 본문이 JSON이 아닙니다"}
            )
        if path == wire.TOKEN_PATH and api_id == wire.TOKEN_ISSUE:
            return self._issue_token(body)
        if path == wire.REVOKE_PATH and api_id == wire.TOKEN_REVOKE:
            self._tokens.pop(str(body.get("token")), None)
            return self._answer(200, {"return_code": 0, "return_msg": "정상적으로 처리되었습니다"})
        limited = self._limited()
        if limited is not None:
            return limited
        if not self._authorized(request.headers.get("authorization", "")):
            self.refused_tokens.append(wire.BAD_TOKEN)
            return self._answer(
                401,
                {"return_code": wire.BAD_TOKEN, "return_msg": "Token이 유효하지 않습니다[8005]"},
            )
        handler = self._routes.handler(path, api_id)
        if handler is None:
            return self._answer(
                200, {"return_code": 1504, "return_msg": f"{path}에서 {api_id}를 찾을 수 없습니다"}
            )
        try:
            answer, next_key = handler(body, request.headers.get("next-key"))
        except DeskRefusal as refusal:
            answer, next_key = {"return_code": wire.ORDER_REFUSED, "return_msg": str(refusal)}, None
        await self.push_order_events()  # the 00 events this request caused, before its reply
        answer.setdefault("return_code", 0)
        answer.setdefault("return_msg", "정상적으로 처리되었습니다")
        return self._answer(200, answer, api_id, next_key)

    def _issue_token(self, body: dict[str, Any]) -> web.Response:
        if body.get("appkey") != self._app_key or body.get("secretkey") != self._secret:
            return self._answer(
                200,
                {
                    "return_code": wire.BAD_APP_KEY,
                    "return_msg": "appkey 또는 secretkey가 유효하지 않습니다",
                },
            )
        token = secrets.token_urlsafe(64)
        expires = self.now_ns() + self._token_ttl_ns
        self._tokens[token] = expires
        self.tokens_issued += 1
        return self._answer(
            200,
            {
                "expires_dt": wire.kst_text(expires),
                "token_type": "bearer",
                "token": token,
                "return_code": 0,
                "return_msg": "정상적으로 처리되었습니다",
            },
            wire.TOKEN_ISSUE,
        )

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        return expires is not None and self.now_ns() < expires

    def _limited(self) -> web.Response | None:
        over = self._rate_limit_left > 0
        if over:
            self._rate_limit_left -= 1
        elif self._requests_per_second is not None:
            now = time.monotonic()
            recent = self._recent
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            over = len(recent) >= self._requests_per_second
            if not over:
                recent.append(now)
        if not over:
            return None
        self.rate_limited += 1
        return self._answer(
            429,
            {
                "return_code": wire.RATE_LIMITED,
                "return_msg": "허용된 요청 개수를 초과하였습니다[1700]",
            },
        )

    def _answer(
        self, status: int, body: dict[str, Any], api_id: str = "", next_key: str | None = None
    ) -> web.Response:
        headers = {
            "Date": email.utils.formatdate(self.now_ns() / wire.NS, usegmt=True),
            "Content-Type": "application/json;charset=UTF-8",
            "cont-yn": "Y" if next_key else "N",
            "next-key": next_key or "",
        }
        if api_id:
            headers["api-id"] = api_id
        return web.Response(status=status, body=_ENCODE(body), headers=headers)

    def session_time(self) -> str:
        """``HHMMSS`` of the simulated session clock."""
        return wire.kst_text(self._session_ns(), "%H%M%S")

    def _session_ns(self) -> int:
        return self._start_ns + int((time.monotonic() - self._started_mono) * wire.NS)

    # --- realtime ------------------------------------------------------------------------------

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.order_events.refused_until:
            return web.Response(status=503, text="Service Unavailable")  # an injected outage
        return await self._realtime_clients.serve(request, self._on_registered)

    def _on_registered(self, code: str) -> None:
        """A fresh registration gets the current book of ``code`` at once."""
        if code in self.market.by_code and code not in self._held_books:
            self.market.by_code[code].book_changed = True

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            if self.paused:
                continue
            items = self.market.step(self._session_ns())
            sent: list[wire.RealItem] = []
            for item in items:
                stock = self.market.by_code[item.item]
                if item.type == wire.REAL_TRADE:
                    self.desk.on_trade(
                        stock, wire.price_of(item.values[wire.FID_PRICE]),
                        int(item.values[wire.FID_VOLUME]), item.values[wire.FID_TIME],
                    )  # fmt: skip
                    if self._skip.get(item.item):
                        self._skip[item.item] -= 1
                        continue
                elif item.item in self._held_books:
                    stock.book_changed = True  # send it once the hold ends
                    continue
                sent.append(item)
            await self._broadcast(sent)
            await self.push_order_events()

    async def push_order_events(self) -> None:
        """Send the desk's new order events to every connection that registered ``00``."""
        items = self.order_events.collect()
        if not items:
            return
        for client in list(self._realtime_clients):
            mine = [item for item in items if item["type"] in client.types]
            if mine and await client.send_real(mine):
                self.order_events.sent += sum(i["type"] == REAL_ORDER for i in mine)

    async def _broadcast(self, items: list[wire.RealItem]) -> None:
        if not items:
            return
        for client in list(self._realtime_clients):
            mine = [i for i in items if i.item in client.items and i.type in client.types]
            if mine:
                await client.send_real(mine)

    async def _ping(self) -> None:
        """PING every interval; a client that did not echo the previous one is disconnected."""
        while True:
            await asyncio.sleep(self._ping_interval_s)
            await self._realtime_clients.ping()


async def _serve(args: argparse.Namespace) -> None:
    server = KiwoomLoopback(
        seed=args.seed, symbols=args.symbols.split(","), port=args.port, rate=args.rate,
        api_key=args.app_key, api_secret=args.secret_key,
    )  # fmt: skip
    await server.start()
    print(f"kiwoom loopback: REST {server.rest_url}  realtime {server.ws_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Kiwoom REST + realtime server on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=60.0, help="market events per second")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--app-key", default="loopback-app-key")
    parser.add_argument("--secret-key", default="loopback-secret-key")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
