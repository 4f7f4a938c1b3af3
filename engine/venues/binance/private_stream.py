"""Binance's user data stream: the WebSocket API subscription (``executionReport`` and balances).

The REST listenKey flow for spot was retired on 2026-02-20 (protocols.md §B.9; Binance spot
changelog). The stream is now a subscription on the WebSocket API
(``wss://ws-api.binance.com:443/ws-api/v3``):

- ``{"id":…,"method":"userDataStream.subscribe.signature","params":{"apiKey":…,"timestamp":…,
  "recvWindow":…,"signature":…}}``, the signature HMAC-SHA256 (the API secret) over the parameters
  sorted by name, as python-binance 1.0.37 signs it; answered ``{"id":…,"status":200,"result":
  {"subscriptionId":N}}`` or an ``error`` (``-2015`` bad key, ``-1022`` bad signature, ``-1021``
  clock) that ends this connection (and, for a key or signature, waits longer before the next);
- events arrive wrapped ``{"subscriptionId":N,"event":{…}}``: ``executionReport`` (``i`` order id,
  ``c`` client order id (on a cancel the cancel's own id, the order's in ``C``), ``x`` execution
  type, ``X`` order status, ``z`` cumulative quantity; on ``x=TRADE`` the fill: ``t`` trade id,
  ``l``/``L`` quantity and price, ``n``/``N`` commission and its asset, ``m`` maker, ``T`` time),
  ``outboundAccountPosition`` (``B``: ``a``/``f``/``l``), ``eventStreamTerminated`` (resubscribe);
- the server pings every 20 s (answered by the library); nothing else arrives on a quiet account,
  so a dead connection is found by the library's own pings (``ping_interval``).

The fill's ``t`` is the trade id ``GET /api/v3/myTrades`` lists it under (``id``): a fill pushed
here and found again by a query is reported once. A fill is built by the order client's own
mapping (:func:`engine.venues.binance.order_client._fill`), so commissions are read the same way
whichever path brings them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec
import websockets

from engine.backoff import Backoff
from engine.config.secrets import Secret
from engine.domain.clock import Clock
from engine.domain.instrument import Instrument
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueRejected,
    VenueUnavailable,
)
from engine.venues.binance.endpoints import DEFAULT_WS_API_URL, DEFAULT_WS_URL
from engine.venues.binance.instruments import VENUE
from engine.venues.binance.order_client import _STATUS, _fill
from engine.venues.binance.wire import decimal_to_raw
from engine.venues.private_stream import StreamBase, StreamListener

log = logging.getLogger("stom.venues.binance.private")

RECV_WINDOW_MS = 10_000
SUBSCRIBE_TIMEOUT_S = 10.0
_decode = msgspec.json.decode


def ws_api_url(ws_url: str) -> str:
    """The WebSocket API next to a market-stream base URL: Binance's own hosts map
    ``stream.`` -> ``ws-api.`` (port 443); any other host (a proxy, the loopback) serves both,
    the API at ``/ws-api/v3``."""
    if not ws_url or ws_url.rstrip("/") == DEFAULT_WS_URL:
        return DEFAULT_WS_API_URL
    parts = urlsplit(ws_url)
    host = parts.hostname or ""
    if host.startswith("stream."):
        return urlunsplit((parts.scheme, "ws-api." + host[len("stream.") :], "/ws-api/v3", "", ""))
    return urlunsplit((parts.scheme, parts.netloc, "/ws-api/v3", "", ""))


class BinancePrivateStream(StreamBase):
    """One account's user data stream over the WebSocket API (see the module docstring)."""

    venue = VENUE
    stream_name = "Binance user data stream"
    _log = log

    def __init__(
        self,
        ws_api_url: str = DEFAULT_WS_API_URL,
        *,
        api_key: Secret,
        api_secret: Secret,
        instruments: Iterable[Instrument] = (),
        timestamp_offset_ms: Callable[[], int] = lambda: 0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(backoff or Backoff(0.25, 30.0))
        self.ws_api_url = ws_api_url
        self._api_key = api_key
        self._api_secret = api_secret
        self._instruments = {instrument.id.symbol: instrument for instrument in instruments}
        self._offset_ms = timestamp_offset_ms
        self._ids = itertools.count(1)

    def subscribe_request(self) -> str:
        """``userDataStream.subscribe.signature``, signed now."""
        params: dict[str, Any] = {
            "apiKey": self._api_key.reveal(),
            "recvWindow": RECV_WINDOW_MS,
            "timestamp": int(time.time() * 1000) + self._offset_ms(),
        }
        payload = urlencode(sorted(params.items()))
        params["signature"] = hmac.new(
            self._api_secret.reveal().encode(), payload.encode(), hashlib.sha256
        ).hexdigest()
        request = {"id": next(self._ids), "method": "userDataStream.subscribe.signature"}
        return msgspec.json.encode({**request, "params": params}).decode()

    async def _session(self, listener: StreamListener, subscribed: Callable[[], None]) -> None:
        async with websockets.connect(
            self.ws_api_url, ping_interval=20, ping_timeout=20, open_timeout=10, max_size=2**22
        ) as socket:
            await socket.send(self.subscribe_request())
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                while True:
                    reply = _decode(await socket.recv())
                    if isinstance(reply, dict) and "id" in reply and "subscriptionId" not in reply:
                        break
            self._check_reply(reply)
            subscribed()
            async for frame in socket:
                self.handle(frame, listener)

    def _check_reply(self, reply: dict[str, Any]) -> None:
        if reply.get("status") == 200:
            return
        error = reply.get("error") or {}
        code, message = str(error.get("code", reply.get("status"))), str(error.get("msg", ""))
        if code in ("-2014", "-2015", "-1022"):
            raise VenueRejected(code, message)
        raise VenueUnavailable(f"Binance user data subscription refused: {code}: {message}")

    def handle(self, frame: bytes | str, listener: StreamListener) -> None:
        """One frame: an execution report, balances, a termination (raised), or a reply."""
        message = self._parse(frame)
        event = message.get("event") if isinstance(message, dict) else None
        if not isinstance(event, dict):
            return  # a reply to a request, or something this client does not read
        kind = event.get("e")
        try:
            if kind == "executionReport":
                self._deliver(self.order_state(event), listener)
            elif kind == "outboundAccountPosition":
                listener.on_balances(
                    [Balance(str(b["a"]), Decimal(b["f"]), Decimal(b["l"])) for b in event["B"]]
                )
            elif kind == "eventStreamTerminated":
                raise VenueUnavailable("Binance ended the user data stream (eventStreamTerminated)")
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self._malformed(frame, f"{kind}: {type(exc).__name__}: {exc}")

    def order_state(self, event: dict[str, Any]) -> VenueOrderState | None:
        """An ``executionReport`` as the order's state (with its one fill on ``x=TRADE``)."""
        symbol = str(event["s"])
        instrument = self._instruments.get(symbol)
        if instrument is None:
            log.debug("Binance executionReport on %s, which this engine does not trade", symbol)
            return None
        status = str(event["X"])
        if status not in _STATUS:
            raise ValueError(f"unknown order status {status!r}")
        client_order_id = str(event.get("C") or event["c"])
        fills: tuple[VenueFill, ...] = ()
        if event["x"] == "TRADE":
            trade = {
                "id": event["t"],
                "price": event["L"],
                "qty": event["l"],
                "commission": event.get("n") or "0",
                "commissionAsset": event.get("N") or "",
                "isMaker": bool(event.get("m")),
                "time": event["T"],
            }
            fills = (_fill(instrument, client_order_id, trade),)
        return VenueOrderState(
            client_order_id=client_order_id,
            venue_order_id=str(event["i"]),
            instrument_id=instrument.id,
            status=_STATUS[status],
            filled_raw=decimal_to_raw(str(event["z"]), instrument.size_precision),
            fills=fills,
            reason=status.lower() if status in ("EXPIRED", "EXPIRED_IN_MATCH", "REJECTED") else "",
        )


def private_stream(
    ws_url: str,
    *,
    client: Any,
    clock: Clock,
    instruments: Iterable[Instrument],
    api_key: Secret,
    api_secret: Secret,
) -> BinancePrivateStream:
    """The stream for ``client``'s account (registry.build_private_stream); signed with the REST
    session's measured clock offset."""
    rest = getattr(client, "rest", None)

    def offset_ms() -> int:
        return int(getattr(rest, "timestamp_offset_ms", 0)) if rest is not None else 0

    return BinancePrivateStream(
        ws_api_url(ws_url),
        api_key=api_key,
        api_secret=api_secret,
        instruments=instruments,
        timestamp_offset_ms=offset_ms,
    )
