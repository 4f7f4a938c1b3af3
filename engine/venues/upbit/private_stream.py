"""Upbit's private WebSocket: ``myOrder`` (order events and fills) and ``myAsset`` (balances).

Protocol (protocols.md §A.1, §A.4, §A.8–A.10; docs.upbit.com "WebSocket 사용 및 에러 안내"):

- the endpoint is ``wss://api.upbit.com/websocket/v1/private``; the handshake carries the same JWT
  as a REST request without parameters (``access_key`` and a fresh ``nonce``, no ``query_hash``)
  in ``Authorization: Bearer …``. A bad token is answered after connecting with
  ``{"error":{"name":"INVALID_AUTH",…}}``;
- the request is one JSON array: the ticket, ``{"type":"myOrder"}`` (no ``codes``: every market)
  and ``{"type":"myAsset"}`` (``codes`` not allowed), the format. Both types are real-time only;
- frames are binary UTF-8 JSON; numbers are JSON numbers, decoded here straight to ``Decimal``
  (never through a float);
- ``myOrder`` comes on each event of an order: ``state`` ``wait``/``watch`` (placed), ``trade``
  (one fill: ``price`` and ``volume`` are the fill's, ``trade_uuid`` its id, ``trade_fee`` its
  fee, ``is_maker`` its side of the match), ``done``, ``cancel``, ``prevented``;
  ``executed_volume`` is the order's total so far, ``identifier`` our client order id;
- the text ``PING`` makes the server answer ``{"status":"UP"}`` (then every 10 s), so a healthy
  connection is never silent: nothing for ``stall_timeout_s`` means it is dead, and it is dropped.

``trade_uuid`` is the id ``GET /v1/order`` lists the same execution under (``trades[].uuid``), so a
fill pushed here and found again by a poll is reported once (engine/venues/private_stream.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec
import pyupbit
import websockets

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.domain.instrument import Instrument
from engine.event_wait import receive_within
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
    VenueUnavailable,
)
from engine.venues.private_stream import StreamBase, StreamListener
from engine.venues.upbit.orders import _STATUS as ORDER_STATUS
from engine.venues.upbit.rules import VENUE, instrument_id

log = logging.getLogger("stom.venues.upbit.private")

DEFAULT_PRIVATE_WS_URL = "wss://api.upbit.com/websocket/v1/private"
NS_PER_MS = 1_000_000
# REST's order states, and those only ``myOrder`` reports: one fill, a self-trade prevented.
_STATUS = {**ORDER_STATUS, "trade": VenueOrderStatus.OPEN, "prevented": VenueOrderStatus.OPEN}


def private_ws_url(ws_url: str) -> str:
    """The private endpoint next to a public one: ``…/websocket/v1`` -> ``…/websocket/v1/private``
    (Upbit's layout; a loopback or proxy configured as ``ws_url`` serves both the same way)."""
    base = ws_url.rstrip("/")
    return base if base.endswith("/private") else f"{base}/private"


class UpbitPrivateStream(StreamBase):
    """``myOrder``/``myAsset`` for one account, reconnecting forever (see the module docstring)."""

    venue = VENUE
    stream_name = "Upbit private stream"
    _log = log
    _json = msgspec.json.Decoder(float_hook=Decimal)

    def __init__(
        self,
        ws_url: str = DEFAULT_PRIVATE_WS_URL,
        *,
        access_key: Secret,
        secret_key: Secret,
        instruments: Iterable[Instrument] = (),
        clock: Clock | None = None,
        clock_offset_ns: Callable[[], int] = lambda: 0,
        stall_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(backoff or Backoff(0.25, 30.0))
        self.ws_url = ws_url
        self._access_key = access_key
        self._secret_key = secret_key
        self._instruments = {instrument.id.symbol: instrument for instrument in instruments}
        self._clock = clock or LiveClock()
        self._clock_offset_ns = clock_offset_ns
        self.stall_timeout_s = stall_timeout_s

    def subscription(self) -> str:
        return msgspec.json.encode(
            [
                {"ticket": f"stom-private-{uuid.uuid4().hex[:12]}"},
                {"type": "myOrder"},
                {"type": "myAsset"},
                {"format": "DEFAULT"},
            ]
        ).decode()

    def _authorization(self) -> dict[str, str]:
        # pyupbit's signing, as for REST (engine/venues/upbit/rest.py): a fresh nonce each time.
        signer = pyupbit.Upbit(self._access_key.reveal(), self._secret_key.reveal())
        return signer._request_headers(None)

    async def _session(self, listener: StreamListener, subscribed: Callable[[], None]) -> None:
        async with websockets.connect(
            self.ws_url,
            additional_headers=self._authorization(),
            ping_interval=20,
            ping_timeout=20,
            open_timeout=10,
            max_size=2**22,
        ) as socket:
            await socket.send(self.subscription())
            await socket.send("PING")
            # The server handles a connection's messages in order: the keepalive answer (or an
            # error) says the subscription is in place, and only then is the gap polled.
            # (receive_within, never asyncio.wait_for: on 3.11 that can swallow a stop racing a
            # frame, and the engine's stop would wait on a stream that never stops)
            why = "the server answers PING every 10 s"
            stall = self.stall_timeout_s
            self.handle(await receive_within(socket.recv, stall, why), listener)
            subscribed()
            while True:
                self.handle(await receive_within(socket.recv, stall, why), listener)

    def handle(self, frame: bytes | str, listener: StreamListener) -> None:
        """One frame: an order update, balances, a keepalive, or an error (raised)."""
        message = self._parse(frame)
        if message is None:
            return
        if not isinstance(message, dict):
            self._malformed(frame, "not an object")
            return
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            name, text = str(error.get("name", "")), str(error.get("message", ""))
            if name == "INVALID_AUTH":
                raise VenueRejected(name, text)
            raise VenueUnavailable(f"Upbit private stream error {name}: {text}")
        kind = message.get("type", message.get("ty"))
        try:
            if kind == "myOrder":
                self._deliver(self.order_state(message), listener)
            elif kind == "myAsset":
                listener.on_balances(_balances(message))
        except (KeyError, TypeError, ArithmeticError, ValueError) as exc:
            self._malformed(frame, f"{kind}: {type(exc).__name__}: {exc}")

    def order_state(self, message: dict[str, Any]) -> VenueOrderState | None:
        """A ``myOrder`` message as the order's state (its one new fill, when ``trade``)."""
        symbol = str(message["code"])
        instrument = self._instruments.get(symbol)
        if instrument is None:
            log.debug("Upbit myOrder on %s, which this engine does not trade: skipped", symbol)
            return None
        state = str(message["state"])
        if state not in _STATUS:
            raise ValueError(f"unknown order state {state!r}")
        client_order_id = str(message.get("identifier") or "")
        fills: tuple[VenueFill, ...] = ()
        if state == "trade":
            price = _raw(message["price"], instrument.price_precision)
            quantity = _raw(message["volume"], instrument.size_precision)
            scale = instrument.price_precision + instrument.size_precision
            traded_ms = int(message.get("trade_timestamp") or message["timestamp"])
            fills = (
                VenueFill(
                    trade_id=str(message["trade_uuid"]),
                    client_order_id=client_order_id,
                    price_raw=price,
                    quantity_raw=quantity,
                    fee_raw=_raw(message.get("trade_fee") or 0, scale),
                    liquidity="maker" if message.get("is_maker") else "taker",
                    ts=traded_ms * NS_PER_MS - self._clock_offset_ns(),
                ),
            )
        return VenueOrderState(
            client_order_id=client_order_id,
            venue_order_id=str(message["uuid"]),
            instrument_id=str(instrument_id(symbol)),
            status=_STATUS[state],
            filled_raw=_raw(message.get("executed_volume") or 0, instrument.size_precision),
            fills=fills,
            reason="canceled on the venue" if state == "cancel" else "",
        )


def _balances(message: dict[str, Any]) -> list[Balance]:
    return [
        Balance(str(row["currency"]), Decimal(str(row["balance"])), Decimal(str(row["locked"])))
        for row in message["assets"]
    ]


def _raw(value: Any, precision: int) -> int:
    """A venue number as a raw int at ``precision`` (digits finer than that are dropped)."""
    return int(Decimal(str(value)).scaleb(precision))


def private_stream(
    ws_url: str,
    *,
    client: Any,
    clock: Clock,
    instruments: Iterable[Instrument],
    access_key: Secret,
    secret_key: Secret,
) -> UpbitPrivateStream:
    """The stream for ``client``'s account (registry.build_private_stream): its private endpoint
    next to the configured public ``ws_url``, fill times moved by the REST clock offset."""
    rest = getattr(client, "rest", None)
    return UpbitPrivateStream(
        private_ws_url(ws_url),
        access_key=access_key,
        secret_key=secret_key,
        instruments=instruments,
        clock=clock,
        clock_offset_ns=lambda: int(getattr(rest, "clock_offset_ns", 0)),
    )
