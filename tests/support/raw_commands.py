"""Raw bytes on an engine's ``cmd`` topic, and every reply they get (counted per request id).

For the bus-edge tests: what a hostile or careless client can publish, not what
:class:`~engine.cli.remote.RemoteEngine` would build.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from types import TracebackType

import aiomqtt
import msgspec

from engine.protocol.payloads import Reply
from engine.protocol.topics import Topics


class RawClient:
    """Publishes raw payloads on ``cmd`` and collects the replies on its own reply topic."""

    def __init__(self, host: str, port: int, namespace: str) -> None:
        self.topics = Topics(namespace)
        self.reply_to = self.topics.reply(f"raw{uuid.uuid4().hex[:10]}")
        self._client = aiomqtt.Client(host, port, keepalive=10)
        self.replies: dict[str, list[Reply]] = defaultdict(list)
        self.unreadable: list[bytes] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RawClient:
        await self._client.__aenter__()
        await self._client.subscribe(self.reply_to, qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.__aexit__(kind, exc, tb)

    async def _read(self) -> None:
        async for message in self._client.messages:
            data = message.payload if isinstance(message.payload, bytes) else b""
            try:
                reply = msgspec.json.decode(data, type=Reply)
            except msgspec.DecodeError:
                self.unreadable.append(data)
                continue
            self.replies[reply.id].append(reply)
            self._arrived.set()

    def command(self, type_: str, args: object, request_id: str, **envelope: object) -> bytes:
        """A command as JSON bytes (``envelope`` overrides or adds top-level fields)."""
        body: dict[str, object] = {
            "v": 1,
            "id": request_id,
            "type": type_,
            "reply_to": self.reply_to,
            "args": args,
        }
        body.update(envelope)
        return msgspec.json.encode({k: v for k, v in body.items() if v is not _MISSING})

    async def publish(self, data: bytes, *, topic: str | None = None, retain: bool = False) -> None:
        await self._client.publish(topic or self.topics.commands, data, qos=1, retain=retain)

    async def answers(
        self, ids: list[str], timeout: float = 10.0, grace: float = 0.3
    ) -> dict[str, list[Reply]]:
        """Wait until every id has a reply (then ``grace`` more, to catch a second one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(self.replies.get(i) for i in ids):
            if loop.time() > deadline:
                missing = [i for i in ids if not self.replies.get(i)]
                raise AssertionError(f"no reply within {timeout}s to {missing}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.1)
        await asyncio.sleep(grace)
        return {i: list(self.replies[i]) for i in ids}

    async def one(self, data: bytes, request_id: str, timeout: float = 10.0) -> Reply:
        """Publish ``data`` and return its only reply (fails on none, or on two)."""
        await self.publish(data)
        replies = (await self.answers([request_id], timeout))[request_id]
        assert len(replies) == 1, replies
        return replies[0]

    async def ping(self, timeout: float = 5.0) -> Reply:
        request_id = f"ping-{uuid.uuid4().hex[:8]}"
        reply = await self.one(self.command("ping", {}, request_id), request_id, timeout)
        assert reply.status == "accepted", reply
        return reply


_MISSING = object()
MISSING = _MISSING
"""Pass as an envelope field to leave it out (``v=MISSING``)."""
