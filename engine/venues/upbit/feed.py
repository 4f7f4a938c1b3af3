"""Upbit market data: instruments over REST, trades and books over the public WebSocket.

One connection carries every market (protocols.md §A.8): the request is one JSON array (ticket,
``trade`` and ``orderbook`` types, the format). After subscribing the feed sends the text ``PING``;
the server then answers ``{"status":"UP"}`` every 10 s, so a healthy connection is never silent
and never reaches the venue's 120 s idle close.

Gaps. Upbit has no sequence numbers, and every orderbook message is a full snapshot, so within a
live connection a book can never be wrong for longer than one message. A book becomes untrusted
only when the stream itself breaks: the connection drops, or it stalls (open but silent, e.g. a
dead NAT mapping). A stall is detected when nothing at all arrives for ``stall_timeout_s``
(keepalives come every 10 s), counted in ``health.gaps``, and the connection is dropped. In both
cases every market goes into ``health.resyncing`` at once; the first snapshot after resubscribing
restates its book (BOOK_CLEAR + levels) and takes it out again.

Reconnects back off exponentially (``backoff_min_s`` doubling to ``backoff_max_s``) with full
jitter, and start again from the minimum once a connection has delivered data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import msgspec
import websockets

from engine.backoff import Backoff
from engine.domain.clock import Clock, LiveClock
from engine.domain.instrument import Instrument
from engine.venues.base import FeedHealth, FeedSink, FeedState, VenueUnavailable
from engine.venues.upbit.normalize import UpbitNormalizer
from engine.venues.upbit.rest import UpbitRest
from engine.venues.upbit.rules import (
    VENUE,
    check_listed,
    check_symbols,
    instruments_from_replies,
)
from engine.venues.upbit.wire import (
    Keepalive,
    Orderbook,
    ServerError,
    SimpleOrderbook,
    classify_other,
    decoder_for,
)

DEFAULT_REST_URL = "https://api.upbit.com/v1"
DEFAULT_WS_URL = "wss://api.upbit.com/websocket/v1"
NS_PER_MS = 1_000_000
FORMATS = ("SIMPLE", "DEFAULT")


class UpbitFeed:
    """Upbit KRW-market trades and books (see the module docstring for gaps and reconnects)."""

    venue = VENUE

    def __init__(
        self,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        clock: Clock | None = None,
        *,
        wire_format: str = "SIMPLE",
        stall_timeout_s: float = 30.0,
        backoff_min_s: float = 0.25,
        backoff_max_s: float = 30.0,
        book_depth: int = 30,
    ) -> None:
        if wire_format not in FORMATS:
            raise ValueError(f"wire_format {wire_format!r} must be one of {FORMATS}")
        self.rest_url = rest_url
        self.ws_url = ws_url
        self.wire_format = wire_format
        self.stall_timeout_s = stall_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.book_depth = book_depth
        self._clock = clock or LiveClock()
        self.health = FeedHealth(venue=VENUE)
        self._instruments: dict[str, Instrument] = {}
        self._last_frame = time.monotonic()
        """Monotonic time of the last frame on the current connection (for the stall watchdog)."""
        self._normalizer: UpbitNormalizer | None = None

    async def load_instruments(self, symbols: list[str]) -> list[Instrument]:
        """Rules from ``market/all``, ``ticker`` and ``orderbook/instruments`` (public REST)."""
        check_symbols(symbols)
        rest = UpbitRest(self.rest_url)
        try:
            markets = await rest.public("/market/all", {"is_details": "true"})
            check_listed(symbols, markets)
            joined = ",".join(symbols)
            tickers = await rest.public("/ticker", {"markets": joined})
            policies = await rest.public("/orderbook/instruments", {"markets": joined})
        finally:
            await rest.close()
        instruments = instruments_from_replies(symbols, markets, tickers, policies)
        self._instruments.update({instrument.id.symbol: instrument for instrument in instruments})
        return instruments

    def subscription(self, symbols: list[str]) -> bytes:
        """The subscribe request: one array with the ticket, the types and the format."""
        depth_suffix = "" if self.book_depth == 30 else f".{self.book_depth}"
        return msgspec.json.encode(
            [
                {"ticket": f"stom-{uuid.uuid4().hex[:12]}"},
                {"type": "trade", "codes": symbols},
                {"type": "orderbook", "codes": [f"{s}{depth_suffix}" for s in symbols]},
                {"format": self.wire_format},
            ]
        )

    async def run(self, symbols: list[str], sink: FeedSink) -> None:
        """Stream ``symbols`` into ``sink`` until cancelled; never returns on a network error."""
        check_symbols(symbols)
        missing = [symbol for symbol in symbols if symbol not in self._instruments]
        if missing:
            await self._load_with_retry(missing)
        instruments = [self._instruments[symbol] for symbol in symbols]
        health = self.health
        normalizer = UpbitNormalizer(instruments, sink.index_of, health.resyncing.discard)
        self._normalizer = normalizer
        backoff = Backoff(self.backoff_min_s, self.backoff_max_s)
        while True:
            health.state = FeedState.CONNECTING
            health.resyncing.update(normalizer.unsync_all())
            sink.wake()
            delivered = await self._connection(symbols, sink, normalizer)
            health.state = FeedState.DOWN
            health.resyncing.update(normalizer.unsync_all())
            sink.wake()
            if delivered:
                backoff.reset()
            # Full jitter: many clients dropped at once do not come back in lockstep.
            await backoff.wait()

    def resync_book(self, instrument_id: str) -> None:
        """The engine found this book crossed: the next orderbook message (a full snapshot)
        restates it; until then it is resyncing and its diffs are not applied."""
        normalizer = self._normalizer
        if normalizer is None or not normalizer.unsync(instrument_id):
            return
        self.health.resyncing.add(instrument_id)
        if self.health.state is FeedState.LIVE:
            self.health.state = FeedState.RESYNCING

    async def _load_with_retry(self, symbols: list[str]) -> None:
        backoff = Backoff(self.backoff_min_s, self.backoff_max_s)
        while True:
            try:
                await self.load_instruments(symbols)
                return
            except VenueUnavailable as exc:
                self.health.last_error = str(exc)
                await backoff.wait(exc.retry_after_s)

    async def _connection(
        self, symbols: list[str], sink: FeedSink, normalizer: UpbitNormalizer
    ) -> bool:
        """One connection's life; returns whether it delivered any market data."""
        health = self.health
        delivered = False
        try:
            async with websockets.connect(
                self.ws_url, ping_interval=20, ping_timeout=20, max_size=2**22, open_timeout=10
            ) as socket:
                health.connected()
                await socket.send(self.subscription(symbols).decode())
                await socket.send("PING")
                health.state = FeedState.RESYNCING
                self._last_frame = time.monotonic()

                def on_stall() -> None:
                    # Not live from this instant: the connection is cut right after.
                    health.state = FeedState.RESYNCING
                    health.resyncing.update(normalizer.unsync_all())
                    sink.wake()

                # Scoped to this connection and cancelled with it (a TaskGroup would wrap the
                # receive loop's ConnectionClosed in an ExceptionGroup).
                watchdog = asyncio.create_task(
                    self._watchdog(socket, on_stall), name="upbit-feed-watchdog"
                )
                try:
                    delivered = await self._receive(socket, sink, normalizer)
                finally:
                    watchdog.cancel()
                # The server closed the connection cleanly (an idle close, maintenance).
                health.went_down(
                    f"closed by the server (code {socket.close_code}"
                    f"{f': {socket.close_reason}' if socket.close_reason else ''}); reconnecting"
                )
        except asyncio.CancelledError:
            raise
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            health.went_down(f"connection lost: {type(exc).__name__}: {exc}")
        return delivered

    async def _receive(
        self,
        socket: websockets.ClientConnection,
        sink: FeedSink,
        normalizer: UpbitNormalizer,
    ) -> bool:
        handle = self.frame_handler(normalizer, sink)
        delivered = False
        async for frame in socket:
            if handle(frame):
                delivered = True
        return delivered

    def frame_handler(
        self, normalizer: UpbitNormalizer, sink: FeedSink
    ) -> Callable[[bytes | str], bool]:
        """The per-frame work (decode, normalize, health, wake) as one closure.

        Returns whether the frame appended events. ``bench/bench_parse_upbit.py`` times exactly
        this function.
        """
        health = self.health
        decode = decoder_for(self.wire_format).decode
        now_ns: Callable[[], int] = self._clock.now_ns
        monotonic = time.monotonic
        on_orderbook = normalizer.on_orderbook
        on_trade = normalizer.on_trade
        books = (Orderbook, SimpleOrderbook)
        live = FeedState.LIVE
        decode_errors = (msgspec.DecodeError, msgspec.ValidationError)
        venue_clock = health.clock

        def handle(frame: bytes | str) -> bool:
            self._last_frame = monotonic()
            health.last_message_ns = now = now_ns()
            try:
                message = decode(frame)
            except decode_errors as exc:
                self._other(frame, exc)
                return False
            if message.timestamp:
                venue_clock.observe(message.timestamp * NS_PER_MS, now)
            if type(message) in books:
                appended = on_orderbook(message, sink.batch)
            else:
                appended = on_trade(message, sink.batch)
            if appended:
                if health.state is not live and not health.resyncing:
                    health.state = live
                sink.wake()
            return appended

        return handle

    def _other(self, frame: bytes | str, error: Exception) -> None:
        kind = classify_other(frame)
        if isinstance(kind, Keepalive):
            return
        if isinstance(kind, ServerError):
            self.health.incident(logging.WARNING, f"server error {kind.name}: {kind.message}")
            return
        self.health.malformed_frame(str(error), frame)

    async def _watchdog(
        self, socket: websockets.ClientConnection, on_stall: Callable[[], None]
    ) -> None:
        """Drop a connection that has gone silent (a stall is a gap: books must be restated)."""
        while True:
            await asyncio.sleep(self.stall_timeout_s / 4)
            silent = time.monotonic() - self._last_frame
            if silent >= self.stall_timeout_s:
                self.health.gaps += 1
                self.health.incident(
                    logging.WARNING, f"stalled: no data for {silent:.1f} s; reconnecting"
                )
                on_stall()
                # A stalled peer will not answer a closing handshake: cut the connection.
                socket.transport.abort()
                return
