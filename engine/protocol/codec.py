"""JSON encoding and typed decoding of payloads (msgspec: fast and strict)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from engine.protocol.payloads import Payload

P = TypeVar("P", bound=Payload)

_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


class DecodeError(ValueError):
    """A payload is not valid JSON or does not match its schema; the message says where."""


def encode(payload: Payload) -> bytes:
    return _encoder.encode(payload)


def decode(data: bytes | bytearray | str, kind: type[P]) -> P:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"{kind.__name__}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed JSON: {exc}") from None
