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

from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import BusSettings
from engine.mqtt_client import describe_mqtt_error, mqtt_client
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import DecodeError, decode, encode
from engine.protocol.topics import Topics

log = logging.getLogger("stom.bus")

CommandHandler = Callable[[p.Command], Awaitable[p.Reply]]
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

    def _will(self) -> aiomqtt.Will:
        offline = self._status("offline")
        offline.reason = "connection to the broker lost (last will)"
        return aiomqtt.Will(self.topics.status, encode(offline), qos=1, retain=True)

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

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; then publish ``stopped`` and disconnect."""
        backoff = 0.2
        while not stop.is_set():
            try:
                async with self._new_client() as client:
                    self._client = client
                    backoff = 0.2
                    await self._session(client, stop)
                    return
            except* aiomqtt.MqttError as group:
                exc = group.exceptions[0]
                if self.connected.is_set():
                    log.warning("lost the MQTT broker (%s); reconnecting", exc)
                self.connected.clear()
            finally:
                self._client = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)
        await self._say_stopped()

    async def _say_stopped(self) -> None:
        """Stopped while disconnected: one short try so the retained status is not a will."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
            async with asyncio.timeout(2.0), self._new_client(role="-stop", will=False) as client:
                await self._publish_status(client, "stopped")

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        await client.subscribe(self.topics.commands, qos=1)
        await client.subscribe(self.topics.status, qos=1)
        await self._publish_status(client, "running")
        self.connections += 1
        if self.connections > 1:
            log.info("reconnected to the MQTT broker at %s", self.address)
        self.outbox.restore_retained()
        self.connected.set()
        async with asyncio.TaskGroup() as group:
            flusher = group.create_task(self._flush_loop(client, stop), name="bus-flush")
            reader = group.create_task(self._read_loop(client), name="bus-commands")
            await stop.wait()
            flusher.cancel()
            reader.cancel()
        # A clean shutdown: last state out, then say so (a clean disconnect sends no will).
        self._before_flush()
        await self._flush(client)
        await self._publish_status(client, "stopped")

    async def _publish_status(self, client: aiomqtt.Client, state: p.EngineState) -> None:
        await client.publish(self.topics.status, encode(self._status(state)), qos=1, retain=True)

    async def _flush_loop(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        # The loop also ends on ``stop`` by itself: a cancellation that lands inside the MQTT
        # client's publish can be swallowed there, and the task would then flush forever and
        # hold the shutdown (seen with amqtt right after start).
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

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

    async def _read_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
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
            return
        if status.engine_id != self.engine_id and status.state in ("offline", "stopped"):
            await self._publish_status(client, "running")

    async def _handle_command(self, client: aiomqtt.Client, data: bytes) -> None:
        try:
            command = decode(data, p.Command)
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
        reply = await self._on_command(command)
        await self._reply(client, command.reply_to, reply)

    async def _reply(self, client: aiomqtt.Client, topic: str, reply: p.Reply) -> None:
        await client.publish(topic, encode(reply), qos=1)
        self.messages_out += 1
