"""Kiwoom market data: instrument rules over REST and the realtime WebSocket feed.

Realtime needs an access token (Kiwoom has no public market data), so the feed takes the same app
key and secret as the order client. Connection protocol (protocols.md §C.6): ``LOGIN`` with the
token, wait for its ack (any other frame first is an error), ``REG`` the ``0B`` trade and ``0D``
book types for every item, echo every ``PING`` unchanged. The connection is dropped and rebuilt
with exponential backoff and jitter when it closes, errs, or stays silent for ``idle_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from engine.backoff import Backoff, retry
from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.domain.instrument import Instrument
from engine.venues.base import (
    FeedHealth,
    FeedSink,
    FeedState,
    VenueRejected,
    VenueUnavailable,
    retry_after_of,
)
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.realtime import InstrumentStream, RealtimeParser
from engine.venues.kiwoom.rest import KiwoomRest
from engine.venues.kiwoom.rules import (
    DEFAULT_COMMISSION,
    VENUE,
    PriceLimits,
    daily_limits,
    krx_instrument,
    segment_of,
    sell_tax_for,
)

log = logging.getLogger("stom.venues.kiwoom")


class LoginRefused(Exception):
    """The realtime server refused the LOGIN (bad or expired token)."""


class KiwoomFeed:
    """Trades and ten-level books of KRX stocks from Kiwoom's realtime WebSocket."""

    venue = VENUE
    book_depth = 10
    """``0D`` carries ten levels per side."""

    def __init__(
        self,
        rest_url: str,
        ws_url: str,
        *,
        app_key: Secret,
        secret_key: Secret,
        clock: Clock | None = None,
        commission: str = str(DEFAULT_COMMISSION),
        idle_timeout_s: float = 60.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        rest: KiwoomRest | None = None,
        sell_tax: Mapping[str, str] | None = None,
    ) -> None:
        """``sell_tax``: configured flat rates by market overriding the built-in schedule
        (``[venues.kiwoom] sell_tax``)."""
        self._clock = clock or LiveClock()
        self._sell_tax = dict(sell_tax or {})
        self._ws_url = ws_url
        self._rest = rest or KiwoomRest(rest_url, app_key, secret_key, clock=self._clock)
        self._commission = commission
        self._idle_timeout_s = idle_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self.health = FeedHealth(venue=VENUE, adapter="kiwoom")
        self.limits: dict[str, PriceLimits] = {}
        """Daily price band per instrument id, from ``ka10001`` (for display and risk)."""
        self._connection: ClientConnection | None = None
        self._parser: RealtimeParser | None = None
        self._sink: FeedSink | None = None

    # --- instruments ---------------------------------------------------------------------------

    async def load_instruments(self, symbols: list[str]) -> list[Instrument]:
        """Rules for ``symbols`` (``005930`` or ``005930.KRX``) from ``ka10001`` and, for the
        market (its tick grid and tax), ``ka10100``."""
        instruments = []
        for symbol in symbols:
            code = _code_of(symbol)
            info = await self._retrying(
                lambda code=code: self._rest.post(
                    wire.STOCK_INFO_PATH, wire.STOCK_INFO, {"stk_cd": code}
                )
            )
            answer = info[0]
            name = str(answer.get("stk_nm") or code)
            # The market (ETF, ETN, ELW or a stock market) sets the tick grid and the sell tax.
            listing = await self._retrying(
                lambda code=code: self._rest.post(
                    wire.STOCK_INFO_PATH, wire.STOCK_LOOKUP, {"stk_cd": code}
                )
            )
            instrument = krx_instrument(
                code,
                name,
                commission=Decimal(self._commission),
                segment=(segment := segment_of(listing[0])),
                sell_tax=sell_tax_for(segment, self._sell_tax),
            )
            self.limits[str(instrument.id)] = _limits_of(answer)
            instruments.append(instrument)
        return instruments

    async def _retrying(self, call: Any, attempts: int = 5) -> Any:
        # Waits only what the venue asks (its Retry-After): a bounded request retry.
        return await retry(
            call,
            attempts=attempts,
            backoff=Backoff(0, 0),
            retryable=(VenueUnavailable,),
            retry_after=retry_after_of,
        )

    # --- streaming -----------------------------------------------------------------------------

    async def run(self, symbols: list[str], sink: FeedSink) -> None:
        """Stream trades and books of ``symbols`` into ``sink`` until cancelled."""
        streams = {
            _code_of(symbol): InstrumentStream(
                f"{_code_of(symbol)}.{VENUE}", sink.index_of(f"{_code_of(symbol)}.{VENUE}")
            )
            for symbol in symbols
        }
        health = self.health
        parser = RealtimeParser(streams, self._clock.now_ns, self._on_resync)
        self._parser, self._sink = parser, sink
        backoff = Backoff(self._backoff_initial_s, self._backoff_max_s)
        parser.reset(sink.batch)
        try:
            while True:
                health.state = FeedState.CONNECTING
                try:
                    await self._session(list(streams), parser, sink)
                    backoff.reset()
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    health.went_down(f"connection: {type(exc).__name__}: {exc}")
                except (LoginRefused, VenueRejected, VenueUnavailable) as exc:
                    health.went_down(f"login: {exc}")
                # Whatever happened while down is unknown: clear the books now, not at reconnect.
                health.state = FeedState.DOWN
                parser.reset(sink.batch)
                sink.wake()
                health.gaps = parser.gaps
                delay = backoff.next_delay()  # full jitter: reconnects never align
                log.info("KRX feed: reconnecting in %.2f s", delay)
                await asyncio.sleep(delay)
        finally:
            health.state = FeedState.DOWN

    async def close(self) -> None:
        """Close the REST session (``run`` is stopped by cancelling it)."""
        if self._connection is not None:
            await self._connection.close()
        await self._rest.close()

    async def _session(self, codes: list[str], parser: RealtimeParser, sink: FeedSink) -> None:
        token = await self._rest.token()
        health = self.health
        async with websockets.connect(
            self._ws_url, ping_interval=None, max_size=2**22, open_timeout=10
        ) as connection:
            self._connection = connection
            try:
                await connection.send(_encode({"trnm": "LOGIN", "token": token.reveal()}))
                async with asyncio.timeout(self._idle_timeout_s):
                    ack = wire.FRAME_DECODER.decode(await connection.recv())
                if ack.trnm != "LOGIN" or ack.return_code != wire.OK:
                    raise LoginRefused(f"{ack.trnm} {ack.return_code}: {ack.return_msg}")
                health.connected()
                await connection.send(_register(codes))
                await self._receive(connection, parser, sink)
            finally:
                self._connection = None

    async def _receive(
        self, connection: ClientConnection, parser: RealtimeParser, sink: FeedSink
    ) -> None:
        loop = asyncio.get_running_loop()
        idle = self._idle_timeout_s
        # One timeout scope pushed forward per frame: asyncio.wait_for on 3.11 can swallow a
        # cancellation that races a completed receive (and costs a task per frame).
        async with asyncio.timeout(idle) as silence:
            while True:
                raw = await connection.recv()
                silence.reschedule(loop.time() + idle)
                reply = self._on_frame(raw, parser, sink)
                if reply is not None:
                    await connection.send(reply)

    def _on_frame(
        self, raw: str | bytes, parser: RealtimeParser, sink: FeedSink
    ) -> str | bytes | None:
        """Handle one frame; returns what must be sent back (the PING echo), if anything."""
        health = self.health
        health.last_message_ns = now = self._clock.now_ns()
        try:
            frame = wire.FRAME_DECODER.decode(raw)
            if frame.trnm == "REAL":
                if parser.parse(frame, sink.batch):
                    sink.wake()
                if parser.venue_ns:
                    health.clock.observe(parser.venue_ns, now)
                if parser.gaps != health.gaps:
                    health.gaps = parser.gaps
                    health.incident(logging.WARNING, "trades were missed (FID 13 jumped): "
                                    "the book is rebuilt from the next 0D")  # fmt: skip
                return None
        except (msgspec.DecodeError, KeyError, ValueError, TypeError) as exc:
            why = (
                f"missing FID {exc}"
                if isinstance(exc, KeyError)
                else f"{type(exc).__name__}: {exc}"
            )
            health.malformed_frame(why, raw)
            return None
        if frame.trnm == "PING":
            return raw  # echo the identical message
        if frame.trnm == "REG":
            if frame.return_code != wire.OK:
                raise LoginRefused(f"REG {frame.return_code}: {frame.return_msg}")
            if health.state is FeedState.CONNECTING:
                health.state = FeedState.RESYNCING if health.resyncing else FeedState.LIVE
        elif frame.trnm == "SYSTEM":
            log.info("kiwoom system notice: %s", frame.return_msg)
        return None

    def resync_book(self, instrument_id: str) -> None:
        """The engine found this book crossed: the next ``0D`` (a full ten-level snapshot)
        rebuilds it; until then it is resyncing."""
        parser, sink = self._parser, self._sink
        stream = parser.streams.get(instrument_id.rpartition(".")[0]) if parser else None
        if parser is None or sink is None or stream is None:
            return
        parser.resync(stream, sink.batch)
        sink.wake()

    def _on_resync(self, stream: InstrumentStream, started: bool) -> None:
        health = self.health
        if started:
            health.resyncing.add(stream.instrument_id)
            if health.state is FeedState.LIVE:
                health.state = FeedState.RESYNCING
        else:
            health.resyncing.discard(stream.instrument_id)
            if not health.resyncing and health.state is FeedState.RESYNCING:
                health.state = FeedState.LIVE


def _register(codes: list[str]) -> str:
    return _encode(
        {
            "trnm": "REG",
            "grp_no": "1",
            "refresh": "1",
            "data": [{"item": codes, "type": [wire.REAL_TRADE, wire.REAL_BOOK]}],
        }
    )


def _encode(message: dict[str, Any]) -> str:
    return msgspec.json.encode(message).decode()


def _code_of(symbol: str) -> str:
    """``005930.KRX`` or ``005930`` -> ``005930``."""
    return symbol.rpartition(".")[0] if symbol.endswith(f".{VENUE}") else symbol


def _limits_of(answer: dict[str, Any]) -> PriceLimits:
    base = wire.price_of(str(answer.get("base_pric") or "0"))
    computed = daily_limits(base) if base else PriceLimits(0, 0, 0)
    upper = wire.price_of(str(answer.get("upl_pric") or "0")) or computed.upper
    lower = wire.price_of(str(answer.get("lst_pric") or "0")) or computed.lower
    return PriceLimits(base, lower, upper)
