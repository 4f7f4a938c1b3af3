"""Kiwoom's ``00`` (주문체결) real-time: the account's own order events and fills.

Kiwoom's document for ``00`` (국내주식 > 실시간시세 > 주문체결; protocols.md §C.6): on the realtime
socket (``wss://api.kiwoom.com:10000/api/dostk/websocket``), after ``LOGIN`` with the access token
and its ack, ``REG`` ``{"item":[""],"type":["00"]}``; the events of the account the token belongs
to then arrive whatever items are registered, as ``REAL`` items of type ``00`` with a FID map
(``9203`` order number, ``913`` status 접수/체결/확인/취소/거부, ``900`` order quantity, ``902``
unfilled, ``908`` HHMMSS, ``910``/``911`` fill price and quantity, ``938``/``939`` commission and
tax). ``04`` (잔고, registered the same way) reports a code's holding after an execution: ``930``
shares held, ``933`` sellable; it becomes the stream's balance for that code. Every ``PING`` is
echoed unchanged. This is a connection of its own, next to the market
feed's, sharing the order client's token.

A fill (``913`` = 체결) becomes the order's state with that one execution. Its id is the one the
order client gives the same execution from ``ka10076``: ``<order number>-<cumulative filled
quantity>`` (``900 - 902`` after it), so a fill pushed here and found again by a query is reported
once. ``938``/``939`` are read as the REST adapter reads ``tdy_trde_cmsn``/``tdy_trde_tax`` (the
execution's commission and tax). Acceptances report the order open; a cancel's confirmation
(``확인``, a new order number, the original in ``904``) and refusals are left to the query that
follows every cancel and to the polls: ``00`` does not say how much of the original had filled.

Kiwoom has no client order id: the live exchange finds the order by its number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec
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
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.rules import VENUE
from engine.venues.private_stream import StreamBase, StreamListener

log = logging.getLogger("stom.venues.kiwoom.private")

REAL_ORDER = "00"
REAL_BALANCE = "04"
ACK_TIMEOUT_S = 10.0
_decode = msgspec.json.decode
_encode = msgspec.json.encode


class KiwoomPrivateStream(StreamBase):
    """``00`` for one account over its own realtime connection (see the module docstring)."""

    venue = VENUE
    stream_name = "Kiwoom 00 stream"
    _log = log

    def __init__(
        self,
        ws_url: str,
        *,
        token: Callable[[], Any],
        instruments: Iterable[Instrument] = (),
        clock: Clock | None = None,
        idle_timeout_s: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(backoff or Backoff(0.5, 30.0))
        self.ws_url = ws_url
        self._token = token
        """An async callable returning the access token (the order client's REST session)."""
        self._codes = {instrument.id.symbol for instrument in instruments}
        self._clock = clock or LiveClock()
        self.idle_timeout_s = idle_timeout_s

    async def _session(self, listener: StreamListener, subscribed: Callable[[], None]) -> None:
        token: Secret = await self._token()
        async with websockets.connect(
            self.ws_url, ping_interval=None, open_timeout=10, max_size=2**22
        ) as socket:
            await socket.send(_encode({"trnm": "LOGIN", "token": token.reveal()}).decode())
            await self._expect(socket, "LOGIN")
            register = {"trnm": "REG", "grp_no": "9", "refresh": "1",
                        "data": [{"item": [""], "type": [REAL_ORDER, REAL_BALANCE]}]}  # fmt: skip
            await socket.send(_encode(register).decode())
            await self._expect(socket, "REG")
            subscribed()
            # (receive_within, never asyncio.wait_for: on 3.11 that can swallow a stop racing a
            # frame, and the stream would never stop)
            why = "the server PINGs an idle connection"
            while True:
                frame = await receive_within(socket.recv, self.idle_timeout_s, why)
                echo = self.handle(frame, listener)
                if echo is not None:
                    await socket.send(echo)

    async def _expect(self, socket: websockets.ClientConnection, trnm: str) -> None:
        """The ack of ``trnm`` (PINGs meanwhile are echoed); a refusal is raised."""
        async with asyncio.timeout(ACK_TIMEOUT_S):
            while True:
                frame = await socket.recv()
                message = _decode(frame)
                if not isinstance(message, dict):
                    continue
                if message.get("trnm") == "PING":
                    await socket.send(frame)
                    continue
                if message.get("trnm") != trnm:
                    continue
                code = int(message.get("return_code") or 0)
                if code != wire.OK:
                    raise VenueRejected(str(code), f"{trnm}: {message.get('return_msg', '')}")
                return

    def handle(self, frame: bytes | str, listener: StreamListener) -> bytes | str | None:
        """One frame; returns the echo to send back for a ``PING``."""
        message = self._parse(frame)
        if not isinstance(message, dict):
            return None
        trnm = message.get("trnm")
        if trnm == "PING":
            return frame
        if trnm == "SYSTEM":
            raise VenueUnavailable(f"Kiwoom realtime notice: {message.get('message', message)}")
        if trnm != "REAL":
            return None
        for item in message.get("data") or ():
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in (REAL_ORDER, REAL_BALANCE):
                continue
            try:
                if kind == REAL_BALANCE:
                    listener.on_balances([_holding(item["values"])])
                    continue
                state = self.order_state(item["values"])
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                self._malformed(frame, f"{kind}: {type(exc).__name__}: {exc}")
                continue
            self._deliver(state, listener)
        return None

    def order_state(self, values: dict[str, str]) -> VenueOrderState | None:
        """One ``00`` item as its order's state (with its execution when ``913`` is 체결)."""
        status, number = values.get("913", ""), str(values["9203"])
        code = str(values.get("9001", "")).lstrip("A")
        if code not in self._codes or status not in ("접수", "체결"):
            return None  # not traded here, or a cancel/modify confirmation or a refusal
        ordered = abs(int(values["900"]))
        unfilled = abs(int(values.get("902") or 0))
        filled = ordered - unfilled
        fills: tuple[VenueFill, ...] = ()
        if status == "체결":
            now = self._clock.now_ns()
            hhmmss = str(values.get("908") or "")
            ts = now
            if len(hhmmss) == 6 and hhmmss.isdigit():
                ts = wire.kst_midnight_ns(now) + wire.hhmmss_ns(hhmmss)
            fills = (
                VenueFill(
                    trade_id=f"{number}-{filled}",
                    client_order_id="",
                    price_raw=wire.price_of(str(values["910"])),
                    quantity_raw=abs(int(values["911"])),
                    fee_raw=_int(values.get("938")) + _int(values.get("939")),
                    liquidity="taker",  # KRX fees are the same either way; 00 does not say
                    ts=ts,
                ),
            )
        return VenueOrderState(
            client_order_id="",
            venue_order_id=number,
            instrument_id=f"{code}.{VENUE}",
            status=VenueOrderStatus.FILLED if unfilled == 0 and filled else VenueOrderStatus.OPEN,
            filled_raw=filled,
            fills=fills,
        )


def _holding(values: dict[str, str]) -> Balance:
    """A ``04`` (잔고) item: the shares held (930), of which sellable now (933)."""
    held, sellable = _int(values["930"]), _int(values.get("933"))
    return Balance(str(values["9001"]).lstrip("A"), Decimal(sellable), Decimal(held - sellable))


def _int(value: object) -> int:
    text = str(value or "").strip()
    return abs(int(text)) if text.lstrip("+-").isdigit() else 0


def private_stream(
    ws_url: str,
    *,
    client: Any,
    clock: Clock,
    instruments: Iterable[Instrument],
    app_key: Secret,
    secret_key: Secret,
) -> KiwoomPrivateStream:
    """The ``00`` stream for ``client``'s account (registry.build_private_stream), logging in
    with the order client's own token (one token per account)."""
    return KiwoomPrivateStream(
        ws_url, token=client.rest.token, instruments=instruments, clock=clock
    )
