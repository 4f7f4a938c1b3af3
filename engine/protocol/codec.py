"""JSON encoding and typed decoding of payloads (msgspec: fast and strict), within limits.

Every decode checks the payload's size and nesting first (:mod:`engine.protocol.limits`) and
turns whatever the parser can raise on hostile input (``RecursionError``, ``MemoryError``,
out-of-range numbers, lone surrogates) into a :class:`DecodeError`: a bad message is refused,
never a crash of the engine's command reader or the console's feed.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from engine.protocol.limits import MAX_STATE_BYTES, LimitExceeded, check_payload
from engine.protocol.payloads import Payload

P = TypeVar("P", bound=Payload)
T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


class DecodeError(ValueError):
    """A payload is not valid JSON, breaks a limit or does not match its schema; the message
    says where."""


def encode(payload: msgspec.Struct) -> bytes:
    return _encoder.encode(payload)


def decode(data: bytes | bytearray | str, kind: type[P], max_bytes: int = MAX_STATE_BYTES) -> P:
    """``data`` as a ``kind`` payload; :class:`DecodeError` naming the field or limit."""
    payload: P = decode_as(data, kind, kind.__name__, max_bytes)
    return payload


def decode_as(data: bytes | bytearray | str, kind: Any, label: str, max_bytes: int) -> Any:
    """Like :func:`decode` for any msgspec type (a tagged union of commands, say)."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        check_payload(data, max_bytes)
        return decoder.decode(data)
    except LimitExceeded as exc:
        raise DecodeError(f"limit: {exc}") from None
    except msgspec.ValidationError as exc:
        raise DecodeError(f"{label}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed JSON: {exc}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        # Not reachable within the limits as far as we know; a refusal all the same.
        raise DecodeError(f"undecodable payload: {type(exc).__name__}") from None
