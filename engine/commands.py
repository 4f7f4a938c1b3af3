"""Commands from the bus: decode within limits, validate, dispatch, and answer each exactly once.

The bus hands every message on ``cmd`` to :meth:`CommandRouter.receive`. It is decoded as one of
the typed commands (:mod:`engine.protocol.commands`); a message that does not decode is answered
with a refusal that names the field or the limit, when it names a usable ``reply_to`` (otherwise
it is logged). Handlers get their command's typed ``args`` struct, never a raw dict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from engine.domain.clock import Clock
from engine.protocol import payloads as p
from engine.protocol.codec import DecodeError
from engine.protocol.command_errors import explain
from engine.protocol.commands import (
    COMMAND_ARGS,
    Args,
    Envelope,
    TypedCommand,
    convert_command,
    decode_command,
)
from engine.protocol.limits import MAX_COMMAND_BYTES, MAX_NAME
from engine.protocol.topics import Topics

log = logging.getLogger("stom.commands")

A = TypeVar("A", bound=Args)
Result = msgspec.Struct | dict[str, Any]
"""What a handler returns: a result struct (or a dict of builtins), sent as the reply's result."""
Handler = Callable[[Any], Awaitable[Result]]


class CommandRejected(Exception):
    """A command that cannot be carried out; the message is the reason sent back.

    ``result`` rides along in the rejection when the caller needs it (a risk denial carries the
    denied order).
    """

    def __init__(self, reason: str, result: Result | None = None) -> None:
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

    def register(self, type_: str, handler: Callable[[A], Awaitable[Result]]) -> None:
        """Answer ``type_`` with ``handler``, which gets the command's typed arguments."""
        if type_ not in COMMAND_ARGS:
            raise ValueError(f"{type_!r} is not a command of engine.protocol.commands")
        self._handlers[type_] = handler

    @property
    def types(self) -> list[str]:
        return sorted(self._handlers)

    # --- from the bus ------------------------------------------------------------------------

    async def receive(self, data: bytes) -> tuple[str, p.Reply] | None:
        """The reply to one message on ``cmd`` and where to send it (None: nowhere to send)."""
        try:
            command = decode_command(data)
        except DecodeError as exc:
            return self.malformed(data, str(exc))
        if not self.topics.is_reply_topic(command.reply_to):
            self.rejected += 1
            log.warning(
                "rejected command %r (%s): reply_to %r is not under %s/reply/",
                command.id,
                command.type,
                command.reply_to,
                self.topics.root,
            )
            return None
        return command.reply_to, await self.handle_typed(command)

    def malformed(self, data: bytes, reason: str) -> tuple[str, p.Reply] | None:
        """Refuse a payload that is not a valid command; reply if it names a usable reply_to."""
        envelope = _envelope_of(data)
        request_id = _text(envelope.id)
        type_ = _text(envelope.type)
        reply_to = _text(envelope.reply_to)
        explained = self._explain(type_, reason)
        if reason.startswith("malformed JSON") and (lone := _SURROGATE.search(data)):
            # JSON allows the escape, msgspec (rightly) refuses it as text: say which it was.
            escape = lone.group().decode("ascii")
            explained = f"malformed command: text with a lone UTF-16 surrogate escape ({escape})"
        if self.topics.is_reply_topic(reply_to):
            log.warning("rejected command %r on %s: %s", request_id, self.topics.root, explained)
            return reply_to, self._reject(request_id, type_, explained)
        preview = data[:200].decode("utf-8", "replace")
        log.warning(
            "rejected malformed command on %s (no reply_to to answer): %s; payload %r",
            self.topics.commands,
            explained,
            preview,
        )
        self.rejected += 1
        return None

    def _explain(self, type_: str, reason: str) -> str:
        if (
            type_
            and type_ not in self._handlers
            and ("at `$.type`" in reason or type_ not in COMMAND_ARGS)
        ):
            return self._unknown(type_)
        return explain(reason, COMMAND_ARGS.get(type_))

    def _unknown(self, type_: str) -> str:
        return f"unknown command type {type_!r}; this engine knows: " + ", ".join(self.types)

    # --- dispatch -----------------------------------------------------------------------------

    async def handle(self, command: p.Command) -> p.Reply:
        """Answer an in-process :class:`~engine.protocol.payloads.Command` (validated the same
        way as one from the bus)."""
        if command.type not in self._handlers:
            return self._reject(command.id, command.type, self._unknown(command.type))
        try:
            typed = convert_command(msgspec.to_builtins(command))
        except DecodeError as exc:
            return self._reject(command.id, command.type, self._explain(command.type, str(exc)))
        return await self.handle_typed(typed)

    async def handle_typed(self, command: TypedCommand) -> p.Reply:
        handler = self._handlers.get(command.type)
        if handler is None:
            return self._reject(command.id, command.type, self._unknown(command.type))
        try:
            result = await handler(command.args)
        except CommandRejected as exc:
            return self._reject(command.id, command.type, str(exc), exc.result)
        except Exception as exc:
            # A bug in a handler must not take the engine down; the caller still gets its reply.
            log.exception("command %s (%s) failed", command.id, command.type)
            return self._reject(command.id, command.type, f"internal error: {type(exc).__name__}")
        self.accepted += 1
        return p.Reply(
            id=command.id,
            type=command.type,
            status="accepted",
            ts=self.clock.now_ns(),
            result=_builtins(result),
        )

    def _reject(
        self, request_id: str, type_: str, reason: str, result: Result | None = None
    ) -> p.Reply:
        self.rejected += 1
        log.info("rejected command %s (%s): %s", request_id, type_, reason)
        return p.Reply(
            id=request_id,
            type=type_,
            status="rejected",
            ts=self.clock.now_ns(),
            reason=reason,
            result=None if result is None else _builtins(result),
        )


def _builtins(result: Result) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    built: dict[str, Any] = msgspec.to_builtins(result)
    return built


# --- reading what can be read of a command that did not decode -----------------------------

_FIELD = {
    name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*"([^"\\]{0,256})"')
    for name in ("id", "type", "reply_to")
}
# A lone surrogate escape makes the whole document undecodable; the envelope can still be read
# with each such escape replaced (text after an escaped backslash stays valid text).
_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"  # high, no low after it
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # low, no high before
)


def _envelope_of(data: bytes) -> Envelope:
    head = data[: MAX_COMMAND_BYTES + 1]
    if len(data) <= MAX_COMMAND_BYTES:
        for candidate in (data, _SURROGATE.sub(rb"\\ufffd", data)):
            try:
                envelope = msgspec.json.decode(candidate, type=Envelope)
            except (msgspec.DecodeError, RecursionError, MemoryError):
                continue
            return envelope
    # Too large or too deep (or not JSON): the fields as text, near either end (a client puts
    # them before the arguments, but a huge field may come first); never a scan of it all.
    tail = data[-MAX_COMMAND_BYTES:]
    found = {name: pattern.search(head) or pattern.search(tail) for name, pattern in _FIELD.items()}
    return Envelope(
        **{name: m.group(1).decode("utf-8", "replace") if m else "" for name, m in found.items()}
    )


def _text(value: Any) -> str:
    """A salvaged envelope field as text (bounded: it is echoed in the reply)."""
    return value[:MAX_NAME] if isinstance(value, str) else ""
