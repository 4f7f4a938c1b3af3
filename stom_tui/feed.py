"""The app's only MQTT module: subscribes, decodes payloads and posts app messages.

Widgets never see MQTT. The feed subscribes to engine presence, the instrument list, the ticker
snapshot, the log and the trading state (orders, order events, positions, account, risk,
reconciliation) for everything, and to book, trades and 1-minute bars for the selected
instrument only (bars of every chart timeframe), so the app's message rate stays low (well
under 200/s) however fast the market is.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import uuid
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

import aiomqtt
from textual.app import App

from engine.config.settings import Settings
from engine.protocol import codec
from engine.protocol.limits import MAX_LOG_BYTES, MAX_STATE_BYTES
from engine.protocol.payloads import (
    Command,
    LogEvent,
    Payload,
    Reply,
)
from engine.protocol.table import REPLY, TABLE, TopicSpec
from engine.protocol.topics import Topics
from stom_tui.conflation import Conflator
from stom_tui.messages import FeedConnectionChanged, PayloadMalformed, message_for

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0
CHART_TIMEFRAMES = ("1s", "1m", "5m", "15m")
"""Bar timeframes followed for the selected instrument (the chart cycles through them)."""

T = TypeVar("T")


class Feed(Protocol):
    """Where the app's market and engine data come from (MQTT in production, a fake in tests)."""

    async def run(self, app: App[Any]) -> None:
        """Post app messages to ``app`` until cancelled (reconnecting as needed)."""
        ...

    def select_instrument(self, instrument_id: str) -> None:
        """Follow ``instrument_id`` for book, trades and bars (and stop following the old one)."""
        ...

    async def request(
        self, type: str, args: dict[str, Any] | None = None, timeout: float = 2.0
    ) -> Reply:
        """Send a command to the engine and wait for its reply; raises ``TimeoutError``."""
        ...


class MqttFeed:
    """:class:`Feed` over MQTT (aiomqtt), with reconnects and exponential backoff."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        client_id: str | None = None,
    ) -> None:
        self.topics = Topics(settings.bus.namespace)
        self.client_id = client_id or f"stom-app-{uuid.uuid4().hex[:12]}"
        self.reply_topic = self.topics.reply(self.client_id)
        self.host = host
        self.port = port
        self._username = username or None
        self._password = password
        self._tls_context = tls_context
        self._keepalive = settings.bus.keepalive_s
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._selected: str | None = None
        self._subscribed: str | None = None
        self._selection_changed = asyncio.Event()
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._fixed_routes, self._instrument_routes = self._routes()

    def _routes(self) -> tuple[dict[str, type[Payload]], list[tuple[str, type[Payload]]]]:
        """Payload type by exact topic, and by topic prefix for per-instrument topics (both
        from the protocol table)."""
        root = self.topics.root
        fixed: dict[str, type[Payload]] = {
            spec.topic(root): spec.payload for spec in TABLE if spec.console == "all"
        }
        fixed[self.reply_topic] = Reply
        # An empty instrument id gives the topic prefix shared by every instrument.
        per_instrument = [
            (spec.topic(root, tf=timeframe), spec.payload)
            for spec in TABLE
            if spec.console == "selected"
            for timeframe in _timeframes(spec)
        ]
        return fixed, per_instrument

    @property
    def broker_label(self) -> str:
        """``host:port``: never any credentials."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- Feed ---------------------------------------------------------------------------------

    async def run(self, app: App[Any]) -> None:
        backoff = BACKOFF_MIN_S
        announced: bool | None = None
        while True:
            was_connected, reason = await self._session(app)
            if was_connected or announced is not False:
                app.post_message(FeedConnectionChanged(False, self.broker_label, reason))
                announced = False
            backoff = BACKOFF_MIN_S if was_connected else min(backoff * 2, BACKOFF_MAX_S)
            await asyncio.sleep(backoff)

    def select_instrument(self, instrument_id: str) -> None:
        self._selected = instrument_id
        self._selection_changed.set()

    async def request(
        self, type: str, args: dict[str, Any] | None = None, timeout: float = 2.0
    ) -> Reply:
        # Each step is bounded by the one deadline through ``asyncio.wait``, never by cancelling
        # this task: aiomqtt's publish waits for its PUBACK in ``asyncio.wait_for``, which on
        # Python 3.11 swallows a cancellation landing as the PUBACK does. A request timed out
        # by cancellation then went on to wait for its reply forever (2 to 3 runs in 150 of
        # tests/test_app_feed.py's request test on two test workers).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        request_id = uuid.uuid4().hex
        command = Command(id=request_id, type=type, reply_to=self.reply_topic, args=args or {})
        future: asyncio.Future[Reply] = loop.create_future()
        self._pending[request_id] = future
        try:
            await _by(deadline, self._connected.wait(), f"{type!r}: no broker connection")
            client = self._client
            if client is None:
                raise ConnectionError("not connected to the broker")
            publish = client.publish(self.topics.commands, codec.encode(command), qos=1)
            try:
                await _by(deadline, publish, f"{type!r}: the broker did not take it")
            except aiomqtt.MqttError as exc:
                raise ConnectionError(f"could not send {type!r}: {exc}") from exc
            return await _by(deadline, future, f"{type!r}: no reply")
        finally:
            self._pending.pop(request_id, None)

    # --- connection ---------------------------------------------------------------------------

    async def _session(self, app: App[Any]) -> tuple[bool, str]:
        """One connection, until it drops: (whether it connected, why it ended)."""
        connected = False
        reason = "connection closed"
        try:
            async with self._new_client() as client:
                connected = True
                await self._subscribe_all(client)
                self._client = client
                self._connected.set()
                app.post_message(FeedConnectionChanged(True, self.broker_label))
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._receive(client, app), name="feed-receive")
                    tasks.create_task(self._follow_selection(client), name="feed-selection")
        except* (aiomqtt.MqttError, OSError) as errors:
            reason = connection_failure(errors.exceptions[0])
        except* Exception as errors:
            # Anything else (a bug, a message no guard foresaw) ends this session only: the feed
            # reconnects, so the console keeps its engine status and can still send ``kill``.
            failure = errors.exceptions[0]
            reason = f"feed error ({type(failure).__name__}); reconnecting"
        finally:
            self._connected.clear()
            self._client = None
        return connected, reason

    def _new_client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            keepalive=self._keepalive,
            clean_session=True,
            tls_context=self._tls_context,
            # paho leaves Nagle on; commands and their replies would wait ~40 ms for an ACK.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )

    async def _subscribe_all(self, client: aiomqtt.Client) -> None:
        root = self.topics.root
        wanted: list[tuple[str, int]] = [
            (spec.topic(root), spec.qos) for spec in TABLE if spec.console == "all"
        ]
        await client.subscribe([*wanted, (self.reply_topic, REPLY.qos)])
        self._subscribed = None
        await self._apply_selection(client)

    def _instrument_topics(self, instrument_id: str) -> list[tuple[str, int]]:
        root = self.topics.root
        return [
            (spec.topic(root, tf=timeframe, id=instrument_id), spec.qos)
            for spec in TABLE
            if spec.console == "selected"
            for timeframe in _timeframes(spec)
        ]

    async def _follow_selection(self, client: aiomqtt.Client) -> None:
        while True:
            await self._selection_changed.wait()
            self._selection_changed.clear()
            await self._apply_selection(client)

    async def _apply_selection(self, client: aiomqtt.Client) -> None:
        wanted = self._selected
        if wanted == self._subscribed:
            return
        previous, self._subscribed = self._subscribed, None
        # The new instrument first: its retained book comes a round trip sooner. What still
        # arrives for the old one is dropped by _dispatch (not the selected instrument).
        if wanted is not None:
            await client.subscribe(self._instrument_topics(wanted))
            self._subscribed = wanted
        if previous is not None:
            old = self._instrument_topics(previous)
            await client.unsubscribe([topic for topic, _ in old])

    # --- messages -----------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client, app: App[Any]) -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray | str) and payload:
                self._dispatch(app, message.topic.value, payload)
            # An empty payload clears a retained topic: nothing to show.

    def _dispatch(self, app: App[Any], topic: str, data: bytes | bytearray | str) -> None:
        kind = self._route(topic)
        if kind is None:
            return
        try:
            # Within size and depth limits: a hostile message is reported, never fatal.
            payload = codec.decode(
                data, kind, MAX_LOG_BYTES if kind is LogEvent else MAX_STATE_BYTES
            )
        except codec.DecodeError as exc:
            app.post_message(PayloadMalformed(topic, str(exc)))
            return
        if isinstance(payload, Reply):
            future = self._pending.get(payload.id)
            if future is not None and not future.done():
                future.set_result(payload)
            return
        instrument_id = getattr(payload, "id", None)
        if kind in _PER_INSTRUMENT and instrument_id != self._selected:
            return  # in flight from before the selection changed
        message = message_for(payload)
        # Snapshots and trades fold into the one already waiting for this topic, so a slow
        # frame never queues stale data ahead of the keys (stom_tui/conflation.py).
        conflator: Conflator | None = getattr(app, "conflator", None)
        if conflator is None or conflator.offer(topic, message):
            app.post_message(message)

    def _route(self, topic: str) -> type[Payload] | None:
        kind = self._fixed_routes.get(topic)
        if kind is not None:
            return kind
        for prefix, instrument_kind in self._instrument_routes:
            if topic.startswith(prefix):
                return instrument_kind
        return None


# MQTT 3.1.1 return codes 4 and 5, MQTT 5 reason codes 134 and 135, and paho's wording of them.
_REFUSED_MARKS = (
    "not authori",
    "bad user",
    "username or password",
    "[code:4]",
    "[code:5]",
    "[code:134]",
    "[code:135]",
)


def connection_failure(exc: BaseException) -> str:
    """Why a connection failed, in words a user acts on (never any credentials)."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if any(mark in lowered for mark in _REFUSED_MARKS):
        return (
            f"the broker refused the username or password ({text}); check [bus] username and"
            " STOM_BUS__PASSWORD or the secrets file"
        )
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS failed ({text}); check [bus] tls_ca_file and the broker's host name"
    return text


def _timeframes(spec: TopicSpec) -> tuple[str, ...]:
    """Each chart timeframe for a per-timeframe topic; one empty one for the others."""
    return CHART_TIMEFRAMES if "{tf}" in spec.path else ("",)


_PER_INSTRUMENT: frozenset[type[Payload]] = frozenset(
    spec.payload for spec in TABLE if spec.per_instrument
)


async def _by(deadline: float, awaitable: Awaitable[T], what: str) -> T:
    """``awaitable``'s result if it comes before ``deadline`` (loop time), else ``TimeoutError``
    naming ``what``; the awaitable is cancelled then. Waits with ``asyncio.wait``, so the
    deadline holds whatever the awaitable does with a cancellation."""
    loop = asyncio.get_running_loop()
    step = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({step}, timeout=max(0.0, deadline - loop.time()))
    finally:
        if not step.done():
            step.cancel()
            # Its end (an error after the cancel, say) is nobody's to report.
            step.add_done_callback(_ignore_end)
    if not done:
        raise TimeoutError(what)
    return step.result()


def _ignore_end(step: asyncio.Future[Any]) -> None:
    if not step.cancelled():
        step.exception()
