"""Binance spot market data: trades and the L2 book of each symbol, normalized into the engine.

Why ``websockets`` directly and not python-binance's ``BinanceSocketManager`` (protocols.md §E.2):
its ``ReconnectingWebsocket`` gives up after 5 reconnects, stops its read loop when more than
``max_queue_size`` messages wait, reports disconnects as ``{"e": "error"}`` payloads, and decodes
every frame with ``json.loads`` into dicts. Here one combined-stream connection
(``/stream?streams=<sym>@trade/<sym>@depth@100ms/…``) is read as bytes and decoded into typed
structs (:mod:`engine.venues.binance.wire`), with our own reconnect (exponential backoff with
jitter, forever), keepalive (the library answers the server's pings every 20 s; our own pings
detect a dead peer), a planned reconnect before the 24 h connection lifetime, and book resync
by the official procedure (:mod:`engine.venues.binance.depth_sync`). REST (exchangeInfo, depth
snapshots) goes through python-binance (:mod:`engine.venues.binance.rest`).

A book is untrusted from a gap, a malformed diff or a disconnect until its snapshot is applied:
its instrument id is in ``health.resyncing`` for that whole time and a BOOK_CLEAR has been sent,
so nothing trades on the stale book.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import msgspec
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from engine.backoff import Backoff
from engine.domain.clock import Clock, LiveClock
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, TRADE, MarketBatch
from engine.venues.base import (
    FeedHealth,
    FeedSink,
    FeedState,
    VenueRejected,
    VenueUnavailable,
    retry_after_of,
)
from engine.venues.binance.depth_sync import DepthSync
from engine.venues.binance.endpoints import DEFAULT_REST_URL, DEFAULT_WS_URL
from engine.venues.binance.instruments import VENUE, instruments_from_exchange_info
from engine.venues.binance.rest import BinanceRest
from engine.venues.binance.wire import (
    DepthUpdate,
    TradeEvent,
    decimal_to_raw,
    stream_decoder,
    stream_name,
)

NS_PER_MS = 1_000_000
MAX_FRAME_BYTES = 4 * 1024 * 1024
PLANNED_RECONNECT_S = 23.5 * 3600
"""Reconnect on our own terms before the server's 24 h close (protocols.md §B.8)."""
CROSSED_CALM_NS = 60_000_000_000
"""A book that has not arrived crossed for this long starts its snapshot backoff afresh."""
STALE_SNAPSHOT_PAUSE_S = 0.05
"""A snapshot older than the buffered diffs is not a failure: the next is fetched after this."""


def depth_weight(limit: int) -> int:
    """Request weight of ``GET /api/v3/depth`` at ``limit`` (protocols.md §B.2)."""
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


@dataclass(slots=True)
class _Slot:
    """Per-symbol state the reader needs on every frame."""

    instrument_id: InstrumentId
    index: int
    price_precision: int
    size_precision: int
    depth: DepthSync
    crossed_backoff: Backoff
    """Spaces snapshots of a book that keeps arriving crossed (each costs request weight)."""
    crossed_ns: int = 0
    """Engine time the book last arrived crossed (0: never)."""
    wait_before_snapshot: bool = False


class BinanceFeed:
    """Trades and L2 books of Binance spot symbols (instrument ids ``BTCUSDT.BINANCE``)."""

    venue = VENUE

    def __init__(
        self,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        clock: Clock | None = None,
        *,
        snapshot_limit: int = 1000,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        ping_interval_s: float = 20.0,
        planned_reconnect_s: float = PLANNED_RECONNECT_S,
        seed: int | None = None,
    ) -> None:
        self.health = FeedHealth(venue=VENUE)
        self._clock = clock or LiveClock()
        self._rest = BinanceRest(rest_url, clock=self._clock)
        self._ws_url = ws_url.rstrip("/")
        self._snapshot_limit = snapshot_limit
        self.book_depth = snapshot_limit
        """Levels per side the venue sends: the snapshot's (diffs then keep them current)."""
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._ping_interval_s = ping_interval_s
        self._planned_reconnect_s = planned_reconnect_s
        self._random = random.Random(seed)
        self._instruments: dict[str, Instrument] = {}
        self._slots: dict[str, _Slot] = {}
        self._connected = False
        self._running = False
        self._frames = 0
        """Data frames read on this connection (one that streamed resets the backoff)."""
        self._resync: asyncio.Queue[str] | None = None
        """The current connection's snapshot queue (None while down: reconnecting resyncs all)."""

    # --- VenueFeed ----------------------------------------------------------------------------

    async def load_instruments(self, symbols: list[str]) -> list[Instrument]:
        """Rules from ``GET /api/v3/exchangeInfo`` (filters: tick, step, minimum notional)."""
        try:
            info = await self._rest.call(self._rest.client.get_exchange_info, weight=20)
        finally:
            if not self._running:  # a one-off lookup leaves no session open
                await self._rest.close()
        instruments = instruments_from_exchange_info(info, symbols)
        self._instruments.update({i.id.symbol: i for i in instruments})
        return instruments

    async def run(self, symbols: list[str], sink: FeedSink) -> None:
        """Stream ``symbols`` into ``sink`` until cancelled, reconnecting on any network error."""
        self._running = True
        try:
            await self._ensure_instruments(symbols)
            self._slots = {
                symbol: self._slot(self._instruments[symbol], sink) for symbol in symbols
            }
            backoff = self._new_backoff()
            while True:
                self.health.state = FeedState.CONNECTING
                lived = await self._session(sink)
                self._went_down(sink)
                if lived:
                    backoff.reset()
                await backoff.wait()
        finally:
            self._running = self._connected = False
            self.health.state = FeedState.DOWN
            await self._rest.close()

    async def close(self) -> None:
        """Release the REST session (``run`` does this itself when it ends)."""
        await self._rest.close()

    def resync_book(self, instrument_id: str) -> None:
        """The engine found this book crossed: rebuild it from a fresh snapshot (spaced by a
        backoff while it keeps happening); diffs buffer meanwhile, as after a gap."""
        slot = self._slots.get(instrument_id.rpartition(".")[0])
        if slot is None:
            return
        now = self._clock.now_ns()
        if now - slot.crossed_ns > CROSSED_CALM_NS:
            slot.crossed_backoff.reset()
        slot.crossed_ns = now
        slot.wait_before_snapshot = True
        slot.depth.reset()
        self.health.resyncing.add(instrument_id)
        self._update_state()
        if self._resync is not None:
            self._resync.put_nowait(slot.instrument_id.symbol)

    def stream_url(self, symbols: list[str]) -> str:
        streams = []
        for symbol in symbols:
            streams += [stream_name(symbol, "trade"), stream_name(symbol, "depth@100ms")]
        return f"{self._ws_url}/stream?streams={'/'.join(streams)}"

    # --- connection ---------------------------------------------------------------------------

    async def _ensure_instruments(self, symbols: list[str]) -> None:
        backoff = self._new_backoff()
        while any(symbol not in self._instruments for symbol in symbols):
            try:
                await self.load_instruments(symbols)
            except VenueUnavailable as exc:
                self.health.last_error = str(exc)
                await backoff.wait(exc.retry_after_s)

    def _slot(self, instrument: Instrument, sink: FeedSink) -> _Slot:
        index = sink.index_of(instrument.id)
        pp, sp = instrument.price_precision, instrument.size_precision
        return _Slot(
            instrument.id,
            index,
            pp,
            sp,
            DepthSync(index, pp, sp),
            Backoff(self._backoff_initial_s, self._backoff_max_s),
        )

    def _new_backoff(self) -> Backoff:
        return Backoff(self._backoff_initial_s, self._backoff_max_s, rng=self._random)

    async def _session(self, sink: FeedSink) -> bool:
        """One connection, until it drops; True if it got as far as streaming data."""
        url = self.stream_url(list(self._slots))
        self._frames = 0
        try:
            async with websockets.connect(
                url,
                ping_interval=self._ping_interval_s,
                ping_timeout=self._ping_interval_s,
                max_size=MAX_FRAME_BYTES,
                open_timeout=10,
                compression=None,
            ) as socket:
                self._went_live()
                resync: asyncio.Queue[str] = asyncio.Queue()
                self._resync = resync
                for symbol, slot in self._slots.items():
                    slot.depth.reset()
                    self.health.resyncing.add(slot.instrument_id)
                    resync.put_nowait(symbol)
                self._update_state()
                async with asyncio.TaskGroup() as group:
                    worker = group.create_task(
                        self._resync_worker(resync, sink), name="binance-book-resync"
                    )
                    try:
                        async with asyncio.timeout(self._planned_reconnect_s):
                            await self._read(socket, resync, sink)
                    except TimeoutError:
                        self.health.went_down("planned reconnect before the 24 h limit",
                                              expected=True)  # fmt: skip
                    except ConnectionClosed as exc:  # inside the group: no ExceptionGroup
                        self._note_disconnect(exc)
                    finally:
                        worker.cancel()
                        self._resync = None
        except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            self._note_disconnect(exc)
        return self._frames > 0

    def _note_disconnect(self, exc: BaseException) -> None:
        self.health.went_down(f"stream connection: {type(exc).__name__}: {exc}")

    def _went_live(self) -> None:
        self.health.connected()
        self._connected = True

    def _went_down(self, sink: FeedSink) -> None:
        """Every book is stale from now until its snapshot after the reconnect."""
        self._connected = False
        now = self._clock.now_ns()
        for slot in self._slots.values():
            slot.depth.reset()
            self.health.resyncing.add(slot.instrument_id)
            sink.batch.append(BOOK_CLEAR, slot.index, BID, 0, 0, now)
        self.health.state = FeedState.DOWN
        sink.wake()

    def _update_state(self) -> None:
        if not self._connected:
            return
        self.health.state = FeedState.RESYNCING if self.health.resyncing else FeedState.LIVE

    # --- reading ------------------------------------------------------------------------------

    async def _read(
        self, socket: websockets.ClientConnection, resync: asyncio.Queue[str], sink: FeedSink
    ) -> None:
        """Decode frames into ``sink`` until the connection closes (raises ConnectionClosed)."""
        health, clock, slots, decode = self.health, self._clock, self._slots, stream_decoder.decode
        venue_clock = health.clock
        while True:
            raw = await socket.recv(decode=False)
            health.last_message_ns = now = clock.now_ns()
            try:
                data = decode(raw).data
                slot = slots[data.s]
            except (msgspec.DecodeError, KeyError) as exc:
                self._other_frame(raw, exc)
                continue
            self._frames += 1
            venue_clock.observe(data.E * NS_PER_MS, now)
            batch = sink.batch
            try:
                if isinstance(data, TradeEvent):
                    batch.append(
                        TRADE,
                        slot.index,
                        ASK if data.m else BID,
                        decimal_to_raw(data.p, slot.price_precision),
                        decimal_to_raw(data.q, slot.size_precision),
                        data.T * NS_PER_MS,
                    )
                elif not slot.depth.on_update(data, batch):
                    health.gaps += 1
                    health.incident(
                        logging.WARNING,
                        f"{data.s} depth gap: the book was at update {slot.depth.last_update_id},"
                        f" the next diff starts at {data.U}; rebuilding it from a snapshot",
                    )
                    self._book_untrusted(slot, resync, batch)
            except ValueError as exc:
                health.malformed_frame(f"bad number in a {data.s} frame: {exc}", raw)
                if isinstance(data, DepthUpdate):
                    slot.depth.reset()
                    slot.depth.buffer.append(data)
                    self._book_untrusted(slot, resync, batch)
            sink.wake()

    def _book_untrusted(self, slot: _Slot, resync: asyncio.Queue[str], batch: MarketBatch) -> None:
        self.health.resyncing.add(slot.instrument_id)
        self._update_state()
        batch.append(BOOK_CLEAR, slot.index, BID, 0, 0, self._clock.now_ns())
        resync.put_nowait(slot.instrument_id.symbol)

    def _other_frame(self, raw: bytes, error: Exception) -> None:
        """Control replies and ``serverShutdown`` are expected; anything else is malformed."""
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            self.health.malformed_frame(f"not JSON: {exc}", raw)
            return
        if isinstance(message, dict):
            data = message.get("data", message)
            if "result" in message and "id" in message:
                return
            if isinstance(data, dict) and data.get("e") == "serverShutdown":
                self.health.incident(
                    logging.INFO, "the server announced a shutdown; a reconnect will follow",
                    error=False,
                )  # fmt: skip
                return
        why = f"unknown symbol {error}" if isinstance(error, KeyError) else str(error)
        self.health.malformed_frame(why, raw)

    # --- book resync ----------------------------------------------------------------------------

    async def _resync_worker(self, resync: asyncio.Queue[str], sink: FeedSink) -> None:
        """Fetch snapshots for untrusted books, one at a time, while the reader buffers diffs.

        A failed fetch waits out the worker's backoff (floored by the venue's Retry-After) and
        queues the book again; a fetch that succeeds starts the backoff afresh."""
        rest, limit = self._rest, self._snapshot_limit
        backoff = self._new_backoff()
        while True:
            symbol = await resync.get()
            slot = self._slots[symbol]
            if slot.depth.synced:
                continue
            if slot.wait_before_snapshot:  # it arrived crossed: do not hammer the venue
                slot.wait_before_snapshot = False
                await slot.crossed_backoff.wait()
            try:
                snapshot = await rest.call(
                    rest.client.get_order_book,
                    weight=depth_weight(limit),
                    symbol=symbol,
                    limit=limit,
                )
                applied = slot.depth.apply_snapshot(
                    int(snapshot["lastUpdateId"]),
                    snapshot["bids"],
                    snapshot["asks"],
                    self._clock.now_ns(),
                    sink.batch,
                )
            except (VenueUnavailable, VenueRejected, KeyError, TypeError, ValueError) as exc:
                self.health.last_error = f"book snapshot {symbol}: {exc}"
                await backoff.wait(retry_after_of(exc))
                resync.put_nowait(symbol)
                continue
            backoff.reset()
            if not applied:  # older than the buffered diffs: fetch a newer one, shortly
                await asyncio.sleep(STALE_SNAPSHOT_PAUSE_S)
                resync.put_nowait(symbol)
                continue
            self.health.resyncing.discard(slot.instrument_id)
            self._update_state()
            sink.wake()
