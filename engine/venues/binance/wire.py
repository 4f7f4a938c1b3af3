"""Binance spot wire formats: typed frames for msgspec, and decimal text to raw integers.

Market-stream frames are decoded straight from the socket's bytes into typed structs (no dict per
message); the combined-stream wrapper ``{"stream": …, "data": …}`` is one struct whose ``data`` is
a union tagged by the event type ``e`` (protocols.md §B.6). Binance prints prices and quantities as
decimal text with 8 places (``"113224.55000000"``); :func:`decimal_to_raw` turns them into the
instrument's raw integers exactly, or refuses.
"""

from __future__ import annotations

import msgspec

from engine.domain.fixed_point import PrecisionError

_POW10 = tuple(10**n for n in range(40))


def decimal_to_raw(text: str, precision: int) -> int:
    """``text * 10**precision`` exactly (``"1.50000000", 2 -> 150``); refuses finer values.

    Faster than :func:`engine.domain.fixed_point.to_raw` for the plain ``digits.digits`` text
    Binance sends: one ``int`` of the digits and one division by a cached power of ten.
    """
    dot = text.find(".")
    if dot < 0:
        return int(text) * _POW10[precision]
    places = len(text) - dot - 1
    digits = int(text[:dot] + text[dot + 1 :])
    if places <= precision:
        return digits * _POW10[precision - places]
    raw, rest = divmod(digits, _POW10[places - precision])
    if rest:
        raise PrecisionError(f"{text} has more than {precision} decimal places")
    return raw


# --- market streams (protocols.md §B.6) ------------------------------------------------------


class TradeEvent(msgspec.Struct, tag_field="e", tag="trade"):
    """``<symbol>@trade``: one trade; ``m`` is true when the buyer was the maker (a sell hit)."""

    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class DepthUpdate(msgspec.Struct, tag_field="e", tag="depthUpdate"):
    """``<symbol>@depth@100ms``: absolute quantities for the levels changed in ``[U; u]``."""

    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class StreamFrame(msgspec.Struct):
    """A combined-stream frame: ``{"stream": "btcusdt@trade", "data": {...}}``."""

    stream: str
    data: TradeEvent | DepthUpdate


stream_decoder = msgspec.json.Decoder(StreamFrame)


def stream_name(symbol: str, kind: str) -> str:
    """``("BTCUSDT", "trade") -> "btcusdt@trade"`` (stream names are lower case)."""
    return f"{symbol.lower()}@{kind}"
