"""Commands from the bus: validate, dispatch, and answer each with exactly one reply."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from engine.domain.clock import Clock
from engine.protocol import payloads as p
from engine.protocol.topics import Topics

log = logging.getLogger("stom.commands")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CommandRejected(Exception):
    """A command that cannot be carried out; the message is the reason sent back.

    ``result`` rides along in the rejection when the caller needs it (a risk denial carries the
    denied order).
    """

    def __init__(self, reason: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.result = result


class CommandRouter:
    """Maps command types to handlers. Unknown types and bad arguments become rejections."""

    def __init__(self, topics: Topics, clock: Clock) -> None:
        self.topics = topics
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self.accepted = 0
        self.rejected = 0

    def register(self, type_: str, handler: Handler) -> None:
        self._handlers[type_] = handler

    @property
    def types(self) -> list[str]:
        return sorted(self._handlers)

    async def handle(self, command: p.Command) -> p.Reply:
        handler = self._handlers.get(command.type)
        if handler is None:
            return self._reject(
                command.id,
                command.type,
                f"unknown command type {command.type!r}; this engine knows: "
                + ", ".join(self.types),
            )
        try:
            result = await handler(command.args)
        except CommandRejected as exc:
            return self._reject(command.id, command.type, str(exc), exc.result)
        except Exception as exc:
            # A bug in a handler must not take the engine down; the caller still gets its reply.
            log.exception("command %s (%s) failed", command.id, command.type)
            return self._reject(command.id, command.type, f"internal error: {exc}")
        self.accepted += 1
        return p.Reply(
            id=command.id,
            type=command.type,
            status="accepted",
            ts=self.clock.now_ns(),
            result=result,
        )

    def malformed(self, data: bytes, reason: str) -> tuple[str, p.Reply] | None:
        """Reject a payload that is not a valid Command; reply if it names a usable reply_to."""
        preview = data[:200].decode("utf-8", "replace")
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError:
            raw = None
        reply_to = raw.get("reply_to") if isinstance(raw, dict) else None
        if isinstance(reply_to, str) and self.topics.is_reply_topic(reply_to):
            assert isinstance(raw, dict)
            reply = self._reject(
                str(raw.get("id", "")), str(raw.get("type", "")), f"malformed command: {reason}"
            )
            log.warning("rejected malformed command on %s: %s", self.topics.commands, reason)
            return reply_to, reply
        log.warning(
            "rejected malformed command on %s (no reply_to to answer): %s; payload %r",
            self.topics.commands,
            reason,
            preview,
        )
        self.rejected += 1
        return None

    def _reject(
        self, request_id: str, type_: str, reason: str, result: dict[str, Any] | None = None
    ) -> p.Reply:
        self.rejected += 1
        log.info("rejected command %s (%s): %s", request_id, type_, reason)
        return p.Reply(
            id=request_id,
            type=type_,
            status="rejected",
            ts=self.clock.now_ns(),
            reason=reason,
            result=result,
        )
