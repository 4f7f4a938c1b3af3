"""Private streams: the venue pushes our own order updates (fills, ends) and balances.

Polling finds a fill only at the next poll, and every poll spends the account's rate limit. Each
venue also pushes the account's own events over a WebSocket (Upbit ``myOrder``/``myAsset``,
Binance's user data stream, Kiwoom's ``00`` real-time); an adapter's :class:`PrivateStream` turns
them into the same :class:`VenueOrderState` values its REST queries give, and the live exchange
applies them through :class:`StreamBridge` the moment they arrive.

Exactly once. A fill can reach the engine twice: pushed on the stream and found again by a poll
(or by the query that follows a place or a cancel). The live exchange reports each venue trade id
of an order once (``Tracked.trade_ids``), whichever path brings it first, and an order that has
ended is never ended again (:meth:`LiveExchange.apply_state` ignores an order it no longer tracks).

Gaps. While the stream is down, nothing is pushed: fills made meanwhile are lost to it. So every
(re)connection, once subscribed, asks the live exchange for one poll (:meth:`StreamBridge.
on_connected`): the open orders are listed over REST, and each order that moved or left the list
is queried, which reports what the stream missed. Polling stays on as the fallback (at the poll
interval while the stream is down) and for reconciliation (seldom, while it is up).

Reconnects use :class:`engine.backoff.Backoff` (full jitter, reset once a connection has
subscribed). :func:`run_reconnecting` is the loop every adapter's stream shares.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from websockets.exceptions import WebSocketException

from engine.backoff import Backoff
from engine.venues.base import Balance, VenueOrderState, VenueRejected, VenueUnavailable
from engine.venues.live_orders import Tracked

log = logging.getLogger("stom.venues.private")

AUTH_RETRY_FLOOR_S = 5.0
"""After the venue refused our credentials, wait at least this long before trying again."""


class StreamListener(Protocol):
    """What a private stream reports to (the live exchange, through :class:`StreamBridge`)."""

    def on_order(self, state: VenueOrderState) -> None:
        """An order update: its new fills (usually one) and its status now."""
        ...

    def on_balances(self, balances: list[Balance]) -> None:
        """Balances that changed (the venue's figures)."""
        ...

    def on_connected(self) -> None:
        """Subscribed (again): what happened while down must be recovered over REST."""
        ...

    def on_disconnected(self, reason: str) -> None: ...


class PrivateStream(Protocol):
    """One venue's private stream; ``run`` reconnects forever until cancelled."""

    venue: str
    health: StreamHealth

    async def run(self, listener: StreamListener) -> None: ...


@dataclass(slots=True)
class StreamHealth:
    """A private stream's condition (for logs, tests and the bench)."""

    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    updates: int = 0
    """Order updates delivered."""
    malformed: int = 0
    last_error: str = ""


Session = Callable[[StreamListener, Callable[[], None]], Awaitable[None]]
"""One connection's life: connect, authenticate, subscribe, call ``subscribed()``, then deliver
until the connection ends (return) or fails (raise)."""


async def run_reconnecting(
    venue: str,
    session: Session,
    listener: StreamListener,
    health: StreamHealth,
    backoff: Backoff,
) -> None:
    """Run ``session`` again and again, with ``backoff`` between tries, until cancelled."""
    while True:

        def subscribed() -> None:
            health.connected = True
            health.connects += 1
            if health.connects > 1:
                health.reconnects += 1
            backoff.reset()
            log.info("%s private stream subscribed (connection %d)", venue, health.connects)
            listener.on_connected()

        floor: float | None = None
        try:
            await session(listener, subscribed)
            reason = "closed by the venue"
        except asyncio.CancelledError:
            raise
        except VenueRejected as exc:
            reason = f"refused: {exc.code}: {exc.message}"
            floor = AUTH_RETRY_FLOOR_S
        except VenueUnavailable as exc:
            reason = str(exc)
            floor = exc.retry_after_s
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # any adapter bug: reconnect
            reason = f"{type(exc).__name__}: {exc}"
            # Fills keep coming by polling, but an adapter bug must not hide in a one-line
            # warning repeated forever: its traceback goes to the log.
            log.exception("%s private stream failed", venue)
        was_connected = health.connected
        health.connected = False
        health.last_error = reason
        if was_connected:
            listener.on_disconnected(reason)
        delay = backoff.next_delay(floor)
        log.warning("%s private stream down (%s); reconnecting in %.2f s: fills come by polling "
                    "meanwhile", venue, reason, delay)  # fmt: skip
        await asyncio.sleep(delay)


class StreamBase:
    """What every adapter's private stream shares: its health, its backoff, the reconnect loop,
    decoding a frame, counting a malformed one, and delivering an order update.

    A subclass names its ``venue`` and ``stream_name`` (for logs), sets ``_json`` when it
    decodes numbers its own way, and implements ``_session`` (see :data:`Session`).
    """

    venue: str
    stream_name: str
    _log: logging.Logger = log
    _json: msgspec.json.Decoder[Any] = msgspec.json.Decoder()

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.health = StreamHealth()

    async def run(self, listener: StreamListener) -> None:
        await run_reconnecting(self.venue, self._session, listener, self.health, self.backoff)

    async def _session(self, listener: StreamListener, subscribed: Callable[[], None]) -> None:
        raise NotImplementedError

    def _parse(self, frame: bytes | str) -> Any:
        """The frame decoded, or None (counted and logged) when it is not JSON."""
        try:
            return self._json.decode(frame)
        except msgspec.DecodeError:
            self._malformed(frame, "not JSON")
            return None

    def _deliver(self, state: VenueOrderState | None, listener: StreamListener) -> None:
        if state is not None:
            self.health.updates += 1
            listener.on_order(state)

    def _malformed(self, frame: bytes | str, why: str) -> None:
        self.health.malformed += 1
        head = frame[:120] if isinstance(frame, str) else frame[:120].decode("utf-8", "replace")
        self._log.warning("%s: skipped a malformed frame (%s): %r", self.stream_name, why, head)


class BridgedExchange(Protocol):
    """What :class:`StreamBridge` uses of :class:`~engine.venues.live_exchange.LiveExchange`
    (named here so that this module need not import the exchange, which imports it)."""

    tracked: dict[str, Tracked]
    stream_live: bool
    stream_updates: int
    venue_balances: dict[str, Balance]

    def apply_state(self, tracked: Tracked, state: VenueOrderState) -> None:
        """Report ``state``'s new fills, then its end."""

    def request_poll(self) -> None:
        """Poll the open orders soon (recovering what a stream outage missed)."""


class StreamBridge:
    """Feeds one private stream into a live exchange (see the module docstring)."""

    def __init__(self, exchange: BridgedExchange) -> None:
        self._exchange = exchange

    def on_order(self, state: VenueOrderState) -> None:
        exchange = self._exchange
        tracked = None
        if state.venue_order_id:
            tracked = next(
                (t for t in exchange.tracked.values() if t.venue_order_id == state.venue_order_id),
                None,
            )
        if tracked is None and state.client_order_id:
            tracked = exchange.tracked.get(state.client_order_id)
        if tracked is None or tracked.placing or tracked.restored or not tracked.venue_order_id:
            # Not ours, or not acknowledged yet: the query after the place (or reconciliation)
            # reports it; an event applied before OrderAccepted would break the order's states.
            return
        exchange.stream_updates += 1
        exchange.apply_state(tracked, state)

    def on_balances(self, balances: list[Balance]) -> None:
        for balance in balances:
            self._exchange.venue_balances[balance.currency] = balance

    def on_connected(self) -> None:
        self._exchange.stream_live = True
        self._exchange.request_poll()  # recover what was missed while down

    def on_disconnected(self, reason: str) -> None:
        self._exchange.stream_live = False
