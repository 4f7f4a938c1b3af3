"""A short-lived MQTT client for CLI commands: read the engine's status, send commands."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from types import TracebackType
from typing import Any

import aiomqtt

from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import Settings
from engine.mqtt_client import describe_mqtt_error, mqtt_client
from engine.protocol import payloads as p
from engine.protocol.codec import DecodeError, decode, encode
from engine.protocol.topics import Topics

RECONNECT_GRACE_S = 6.0
"""How long a command waits for the engine after a broker restart: the engine's reconnect
backoff is at most 5 s (engine/bus.py), then it says ``running`` again."""


class RemoteEngine:
    """``async with RemoteEngine(...) as remote: await remote.request("ping")``."""

    def __init__(self, settings: Settings, address: BrokerAddress, password: Secret | None) -> None:
        self.topics = Topics(settings.bus.namespace)
        self.client_id = f"cli-{uuid.uuid4().hex[:10]}"
        self.reply_topic = self.topics.reply(self.client_id)
        self.address = address
        self._client = mqtt_client(
            settings.bus, address, password, identifier=f"stom-{self.client_id}", timeout=3.0
        )
        self._status: p.EngineStatus | None = None
        self._status_seen = asyncio.Event()
        self._replies: dict[str, asyncio.Future[p.Reply]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RemoteEngine:
        try:
            await self._client.__aenter__()
            await self._client.subscribe(self.reply_topic, qos=1)
            await self._client.subscribe(self.topics.status, qos=1)
        except aiomqtt.MqttError as exc:
            raise ConnectionError(describe_mqtt_error(exc, self.address)) from None
        self._reader = asyncio.create_task(self._read(), name="cli-reader")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def _read(self) -> None:
        async for message in self._client.messages:
            data = message.payload if isinstance(message.payload, bytes) else b""
            try:
                if message.topic.value == self.topics.status:
                    self._status = decode(data, p.EngineStatus)
                    self._status_seen.set()
                    continue
                reply = decode(data, p.Reply)
            except DecodeError:
                continue
            future = self._replies.pop(reply.id, None)
            if future is not None and not future.done():
                future.set_result(reply)

    async def status(self, timeout: float = 0.5) -> p.EngineStatus | None:
        """The retained engine status, or None if no engine ever announced itself."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._status_seen.wait(), timeout)
        return self._status

    async def request(
        self, type_: str, args: dict[str, Any] | None = None, timeout: float = 2.0
    ) -> p.Reply:
        """Send a command; raises TimeoutError if no reply arrives in time."""
        request_id = uuid.uuid4().hex[:12]
        future: asyncio.Future[p.Reply] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        command = p.Command(id=request_id, type=type_, reply_to=self.reply_topic, args=args or {})
        await self._client.publish(self.topics.commands, encode(command), qos=1)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._replies.pop(request_id, None)

    @property
    def last_status(self) -> p.EngineStatus | None:
        """The newest ``engine/status`` seen (retained or live), whatever its state."""
        return self._status

    async def alive_engine(
        self, timeout: float = 1.0, *, wait_s: float = 0.3
    ) -> p.EngineStatus | None:
        """The status of a live engine in the namespace (it answered a ping), or None.

        ``wait_s`` is how long an engine may take to show up: a broker restarted without
        persistence holds no status until the engine reconnects, and a persisted ``running``
        is not answered until then either. Commands pass :data:`RECONNECT_GRACE_S`; starting
        an engine or the console does not wait (no status there usually means no engine).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        status = await self.status(timeout=wait_s)
        while status is not None and status.state in ("running", "starting", "degraded"):
            try:
                reply = await self.request("ping", timeout=timeout)
            except TimeoutError:
                if loop.time() >= deadline:
                    return None
                status = self._status  # a reconnecting engine may have said more meanwhile
                continue
            return status if reply.status == "accepted" else None
        return None
