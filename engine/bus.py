"""The engine's MQTT bridge: presence, flushing the outbox, and commands with replies.

One client per engine. It reconnects with exponential backoff when the broker goes away, restores
retained state on a broker that lost it, and keeps the retained status honest (a late last will
from a dead engine is overwritten by the live one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiomqtt

from engine import fault_injection as faults
from engine.backoff import Backoff
from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import BusSettings
from engine.event_wait import wait_event
from engine.mqtt_client import describe_mqtt_error, mqtt_client
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol import table
from engine.protocol.codec import DecodeError, decode, encode
from engine.protocol.commands import TypedCommand, decode_command
from engine.protocol.topics import Topics

log = logging.getLogger("stom.bus")

WILL_REASON = "connection to the broker lost (last will: killed, crashed or stalled)"
"""The last will's reason: the engine could say nothing itself (nor alert)."""

CommandHandler = Callable[[TypedCommand], Awaitable[p.Reply]]
MalformedHandler = Callable[[bytes, str], tuple[str, p.Reply] | None]


class EngineBus:
    """Owns the engine's MQTT connection for the lifetime of the engine."""

    def __init__(
        self,
        bus: BusSettings,
        address: BrokerAddress,
        password: Secret | None,
        topics: Topics,
        outbox: Outbox,
        *,
        engine_id: str,
        status: Callable[[p.EngineState], p.EngineStatus],
        on_command: CommandHandler,
        on_malformed: MalformedHandler,
        before_flush: Callable[[], None],
    ) -> None:
        self.bus = bus
        self.address = address
        self._password = password
        self.topics = topics
        self.outbox = outbox
        self.engine_id = engine_id
        self._status = status
        self._on_command = on_command
        self._on_malformed = on_malformed
        self._before_flush = before_flush
        self.connected = asyncio.Event()
        self.connections = 0
        self.messages_out = 0
        self._client: aiomqtt.Client | None = None
        self.fault: str | None = None
        """Why the engine is dying; set, the bus ends with ``offline`` and this reason, not
        ``stopped`` (docs/deploy.md, "When the engine dies")."""
        self._command: tuple[str, float] | None = None
        """The command being handled (``id (type)``, monotonic start): the watchdog's view."""

    def _will(self) -> aiomqtt.Will:
        # The broker publishes this when the connection ends without a DISCONNECT (kill -9, a
        # crash, a stalled loop past 1.5 keepalives). It is built at connect time, so its ``ts``
        # is when that session began, not when the engine died: consoles date it by receipt.
        offline = self._status("offline")
        offline.reason = WILL_REASON
        return aiomqtt.Will(
            self.topics.status, encode(offline), qos=table.STATUS.qos, retain=table.STATUS.retained
        )

    def _new_client(self, *, role: str = "", will: bool = True) -> aiomqtt.Client:
        return mqtt_client(
            self.bus,
            self.address,
            self._password,
            identifier=f"stom-engine-{self.engine_id}{role}",
            will=self._will() if will else None,
        )

    async def connect_once(self) -> None:
        """Fail fast with a clear message if the broker cannot be reached at start."""
        # Its own client id and no will: reusing the session's id could let the broker see this
        # probe's close after the real session's connect (a takeover) and fire a stale will.
        try:
            async with self._new_client(role="-probe", will=False):
                pass
        except aiomqtt.MqttError as exc:
            raise ConnectionError(describe_mqtt_error(exc, self.address)) from None

    def command_age(self, now: float) -> tuple[str, float] | None:
        """The command being handled and for how long (seconds), or None when idle."""
        if self._command is None:
            return None
        what, since = self._command
        return what, now - since

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; then publish ``stopped`` and disconnect.

        With :attr:`fault` set (the node is dying) the last word is ``offline`` with the reason.
        If the bus itself fails, it says so the same way, on a fresh connection (the failed
        session disconnected cleanly, so the broker drops its will), and re-raises.
        """
        try:
            await self._run(stop)
        except Exception as exc:
            if self.fault is None:
                self.fault = f"bus task failed: {describe_exception(exc)}"
            await self._say_final()
            raise

    async def _run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.2, 5.0)
        while not stop.is_set():
            try:
                async with self._new_client() as client:
                    self._client = client
                    backoff.reset()
                    await self._session(client, stop)
                    return
            except* aiomqtt.MqttError as group:
                exc = group.exceptions[0]
                if self.connected.is_set():
                    log.warning("lost the MQTT broker (%s); reconnecting", exc)
                self.connected.clear()
            finally:
                self._client = None
            await backoff.wait(stop=stop)
        await self._say_final()

    async def say_offline(self, reason: str) -> None:
        """Last words from outside the session (the process is ending past the node's
        supervision): ``offline`` with ``reason`` on a short-lived connection."""
        self.fault = self.fault or reason
        await self._say_final()

    async def _say_final(self) -> None:
        """Stopped or dying while disconnected: one short try so the retained status is not a
        will (or is the real reason, not the will's)."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
            async with asyncio.timeout(2.0), self._new_client(role="-stop", will=False) as client:
                await self._publish_final(client)

    async def _publish_final(self, client: aiomqtt.Client) -> None:
        if self.fault is None:
            await self._publish_status(client, "stopped")
        else:
            await self._publish_status(client, "offline", reason=self.fault)

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        await client.subscribe(self.topics.commands, qos=table.COMMANDS.qos)
        await client.subscribe(self.topics.status, qos=table.STATUS.qos)
        await self._publish_status(client, "running")
        self.connections += 1
        if self.connections > 1:
            log.info("reconnected to the MQTT broker at %s", self.address)
        self.outbox.restore_retained()
        self.connected.set()
        # Set when the session ends for any reason. The flush loop ends on it by itself: when the
        # reader failed, a cancellation swallowed inside the client's publish used to leave the
        # flush loop (and heartbeats) running with no one reading commands: a zombie engine.
        over = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            flusher = group.create_task(self._flush_loop(client, over), name="bus-flush")
            reader = group.create_task(self._reading(client, over), name="bus-commands")
            await stop.wait()
            over.set()
            flusher.cancel()
            reader.cancel()
        # A clean shutdown: last state out, then say so (a clean disconnect sends no will). A
        # dying engine says why first: its last state may be what failed.
        if self.fault is not None:
            await self._publish_final(client)
            with contextlib.suppress(Exception):
                self._before_flush()
                await self._flush(client)
            return
        self._before_flush()
        await self._flush(client)
        await self._publish_final(client)

    async def _publish_status(
        self, client: aiomqtt.Client, state: p.EngineState, *, reason: str | None = None
    ) -> None:
        status = self._status(state)
        if reason is not None:
            status.reason = reason
        await client.publish(
            self.topics.status, encode(status), qos=table.STATUS.qos, retain=table.STATUS.retained
        )

    async def _flush_loop(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        # The loop also ends on ``stop`` (the session's end) by itself: a cancellation that lands
        # inside the MQTT client's publish can be swallowed there, and the task would then flush
        # forever and hold the shutdown (seen with amqtt right after start).
        interval = 1.0 / self.bus.flush_hz
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            next_at += interval
            self._before_flush()
            await self._flush(client)
            delay = next_at - loop.time()
            if delay < 0:  # fell behind (a long flush): do not try to catch up in a burst
                next_at = loop.time()
                delay = 0
            await wait_event(stop, delay)

    async def _flush(self, client: aiomqtt.Client) -> None:
        pending = self.outbox.take()
        for sent, message in enumerate(pending):
            try:
                await client.publish(
                    message.topic, message.data, qos=message.qos, retain=message.retain
                )
            except BaseException:
                # Disconnected, or cancelled because the reader saw the disconnect first: what
                # was taken but not sent goes back, so retained state is not lost across it.
                self.outbox.requeue(pending[sent:])
                raise
            self.outbox.sent(message)
            self.messages_out += 1

    async def _reading(self, client: aiomqtt.Client, over: asyncio.Event) -> None:
        try:
            await self._read_loop(client)
        finally:
            over.set()
        # The message stream ended without an error: the connection is gone all the same.
        raise aiomqtt.MqttError("the broker connection ended")

    async def _read_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            faults.check("bus-reader")  # tests only (engine/fault_injection.py)
            topic = message.topic.value
            data = message.payload if isinstance(message.payload, bytes) else b""
            if topic == self.topics.status:
                await self._guard_status(client, data)
            elif topic == self.topics.commands:
                await self._handle_command(client, data)

    async def _guard_status(self, client: aiomqtt.Client, data: bytes) -> None:
        """Another engine's late last will must not mark this live engine offline."""
        try:
            status = decode(data, p.EngineStatus)
        except DecodeError:
            # Garbage on the retained status (empty, too deep, not a status): the topic must
            # say this engine runs, for the consoles and for engines started later.
            if data:
                await self._publish_status(client, "running")
            return
        if status.engine_id != self.engine_id and status.state in ("offline", "stopped"):
            await self._publish_status(client, "running")

    async def _handle_command(self, client: aiomqtt.Client, data: bytes) -> None:
        try:
            # Typed, within size and depth limits: any failure is a refusal naming the field.
            command = decode_command(data)
        except DecodeError as exc:
            rejection = self._on_malformed(data, str(exc))
            if rejection is not None:
                await self._reply(client, *rejection)
            return
        if not self.topics.is_reply_topic(command.reply_to):
            log.warning(
                "rejected command %r (%s): reply_to %r is not under %s/reply/",
                command.id,
                command.type,
                command.reply_to,
                self.topics.root,
            )
            return
        self._command = (f"{command.id} ({command.type})", asyncio.get_running_loop().time())
        try:
            reply = await self._on_command(command)
        finally:
            self._command = None
        await self._reply(client, command.reply_to, reply)

    async def _reply(self, client: aiomqtt.Client, topic: str, reply: p.Reply) -> None:
        await client.publish(topic, encode(reply), qos=table.REPLY.qos)
        self.messages_out += 1


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` of the first leaf of an exception (group), for a status reason."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
