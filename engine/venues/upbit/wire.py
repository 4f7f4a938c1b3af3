"""Upbit WebSocket frames as typed structs, in both wire formats (protocols.md §A.8, §A.10).

Upbit sends every message as a binary frame holding one JSON object. The connection's format is
``DEFAULT`` (full field names, tag ``type``) or ``SIMPLE`` (abbreviated keys, tag ``ty``); the
same event in either format decodes to structs with the same attribute names, so the normalizer
never looks at the format. Only the fields STOM uses are declared: msgspec skips the rest without
building them, which is most of the speed over ``json.loads`` into dicts.
"""

from __future__ import annotations

from typing import Any

import msgspec

# --- DEFAULT format -------------------------------------------------------------------------


class Trade(msgspec.Struct, tag_field="type", tag="trade"):
    """One trade print: ``ask_bid`` ``BID`` is a buyer-initiated trade (it hit the ask)."""

    code: str
    trade_price: float
    trade_volume: float
    ask_bid: str
    trade_timestamp: int
    sequential_id: int = 0
    stream_type: str = "REALTIME"
    timestamp: int = 0
    """When the venue sent the message (ms; its clock: measured, never used for age)."""


class OrderbookUnit(msgspec.Struct):
    """Level ``i`` of both sides: the i-th best ask and the i-th best bid."""

    ask_price: float
    bid_price: float
    ask_size: float
    bid_size: float


class Orderbook(msgspec.Struct, tag_field="type", tag="orderbook"):
    """A full top-N snapshot of one market's book (Upbit never sends diffs)."""

    code: str
    timestamp: int
    orderbook_units: list[OrderbookUnit]
    stream_type: str = "REALTIME"


# --- SIMPLE format (same attribute names, abbreviated keys on the wire) ---------------------


class SimpleTrade(
    msgspec.Struct,
    tag_field="ty",
    tag="trade",
    rename={
        "code": "cd",
        "trade_price": "tp",
        "trade_volume": "tv",
        "ask_bid": "ab",
        "trade_timestamp": "ttms",
        "sequential_id": "sid",
        "stream_type": "st",
        "timestamp": "tms",
    },
):
    code: str
    trade_price: float
    trade_volume: float
    ask_bid: str
    trade_timestamp: int
    sequential_id: int = 0
    stream_type: str = "REALTIME"
    timestamp: int = 0
    """When the venue sent the message (ms; its clock: measured, never used for age)."""


class SimpleOrderbookUnit(
    msgspec.Struct,
    rename={"ask_price": "ap", "bid_price": "bp", "ask_size": "as", "bid_size": "bs"},
):
    ask_price: float
    bid_price: float
    ask_size: float
    bid_size: float


class SimpleOrderbook(
    msgspec.Struct,
    tag_field="ty",
    tag="orderbook",
    rename={
        "code": "cd",
        "timestamp": "tms",
        "orderbook_units": "obu",
        "stream_type": "st",
    },
):
    code: str
    timestamp: int
    orderbook_units: list[SimpleOrderbookUnit]
    stream_type: str = "REALTIME"


AnyTrade = Trade | SimpleTrade
AnyOrderbook = Orderbook | SimpleOrderbook

DEFAULT_DECODER = msgspec.json.Decoder(Trade | Orderbook)
SIMPLE_DECODER = msgspec.json.Decoder(SimpleTrade | SimpleOrderbook)
_ANY = msgspec.json.Decoder()


class Keepalive:
    """``{"status":"UP"}``: the server's answer to a text ``PING`` (then every 10 s)."""


class ServerError:
    """``{"error":{"name":...,"message":...}}`` sent on the socket (bad request, auth...)."""

    __slots__ = ("message", "name")

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message


KEEPALIVE = Keepalive()


def decoder_for(wire_format: str) -> msgspec.json.Decoder[Any]:
    """The typed decoder of a connection format (``DEFAULT`` or ``SIMPLE``)."""
    return SIMPLE_DECODER if wire_format == "SIMPLE" else DEFAULT_DECODER


def classify_other(frame: bytes | str) -> Keepalive | ServerError | None:
    """What a frame that is not a trade or orderbook is: keepalive, error, or None (malformed).

    Called only after the typed decode failed, so it is off the hot path.
    """
    try:
        value = _ANY.decode(frame)
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if value.get("status") == "UP":
        return KEEPALIVE
    error = value.get("error")
    if isinstance(error, dict):
        return ServerError(str(error.get("name", "")), str(error.get("message", "")))
    return None
