"""A seeded generator of hostile command payloads, each with what the engine must do with it.

Every payload has a unique ``id``. ``expect`` says how many replies it must get: 1 when it names
our ``reply_to`` intact (however wrong the rest, mangled bytes included), 0 when its ``reply_to``
is gone or foreign. Mutations are built from the command structs' own fields, so every command
type and every field is hit: wrong types, out-of-range and hostile numbers, huge and hostile
text, deep nesting, unknown and missing fields, a wrong ``v``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.protocol.commands import COMMAND_ARGS
from tests.support.protocol_samples import sample

HOSTILE_NUMBERS = ("1e1000000", "1e5000", "1e999999999999", "-1e-999999", "NaN", "Infinity",
                   "1" * 5000, "0." + "0" * 4000 + "1", "1e30", "1e31", "-0", "0x10", "1_000",
                   " 1 ", "", "１", "1e-31", "9" * 31)  # fmt: skip
HOSTILE_TEXT = ("", "\u0000", "a\u0000b.py", "../x.py", "/etc/passwd", "x" * 300, "x" * 70_000,
                "\ud7ff", "\U0001f600", "KRW-BTC.SIM", "a.py", "manual", "false", "true", "null",
                "O1", "buy", "sell", "market", "UPBIT", "tick_momentum")  # fmt: skip
RAW_NUMBERS = (b"1e309", b"-1e309", b"1e-400", b"123456789012345678901234567890", b"-0", b"0.5")
RAW_TEXT = (b'"\\ud800"', b'"\\udc00x"', b'"\\u0000"', b'"\\ud83d\\ude00"')


@dataclass(frozen=True, slots=True)
class Case:
    data: bytes
    request_id: str
    expect: int
    what: str


class CommandFuzzer:
    """``cases(n)`` yields n payloads for ``reply_to``, reproducibly from ``seed``."""

    def __init__(self, seed: int, reply_to: str) -> None:
        self.rng = random.Random(seed)
        self.reply_to = reply_to
        self.count = 0
        self.types = sorted(COMMAND_ARGS)
        self.valid = {
            type_: msgspec.to_builtins(sample(kind)) for type_, kind in COMMAND_ARGS.items()
        }

    def cases(self, n: int) -> Iterator[Case]:
        for _ in range(n):
            yield self.case()

    def case(self) -> Case:
        self.count += 1
        request_id = f"z{self.count}"
        type_ = self.rng.choice(self.types)
        args: dict[str, Any] = dict(self.valid[type_])
        envelope: dict[str, Any] = {
            "v": 1, "id": request_id, "type": type_, "reply_to": self.reply_to, "args": args,
        }  # fmt: skip
        kind = self.rng.randrange(12)
        what = ["field", "field", "field", "unknown", "missing", "envelope", "deep", "raw",
                "raw", "bytes", "noreply", "valid"][kind]  # fmt: skip
        expect = 1
        if what == "field" and args:
            name = self.rng.choice(sorted(args))
            args[name] = self._hostile_value()
        elif what == "unknown":
            args[self.rng.choice(("strategy_id", "x", "", "\u0000"))] = self._hostile_value()
        elif what == "missing" and args:
            del args[self.rng.choice(sorted(args))]
        elif what == "envelope":
            key = self.rng.choice(("v", "type", "args", "extra"))
            envelope[key] = self._hostile_value() if self.rng.random() < 0.8 else None
            if key == "v" and self.rng.random() < 0.3:
                del envelope["v"]
        elif what == "deep":
            depth = self.rng.choice((31, 33, 100, 1000, 20_000))
            args["x"] = "<DEEP>"
            data = msgspec.json.encode(envelope).replace(b'"<DEEP>"', b"[" * depth + b"]" * depth)
            return Case(data, request_id, 1, f"deep {depth}")
        elif what == "raw":
            args["x" if not args or self.rng.random() < 0.3 else self.rng.choice(sorted(args))] = (
                "<RAW>"
            )
            token = self.rng.choice(RAW_NUMBERS + RAW_TEXT)
            data = msgspec.json.encode(envelope).replace(b'"<RAW>"', token)
            return Case(data, request_id, 1, f"raw {token!r}")
        elif what == "bytes":
            # Mangled after the envelope's id and reply_to, which stay readable: answered.
            data = bytearray(msgspec.json.encode(envelope))
            start = data.index(b'"args":') + 7
            for _ in range(self.rng.randint(1, 4)):
                spot = self.rng.randrange(start, len(data))
                data[spot] = self.rng.randrange(256)
            if self.rng.random() < 0.3:
                data = data[: self.rng.randrange(start, len(data))]
            return Case(bytes(data), request_id, 1, "bytes")
        elif what == "noreply":
            if self.rng.random() < 0.5:
                del envelope["reply_to"]
            else:
                envelope["reply_to"] = self.rng.choice(("elsewhere/x", "stom/other/reply/x", ""))
            expect = 0
        return Case(msgspec.json.encode(envelope), request_id, expect, what)

    def _hostile_value(self) -> Any:
        roll = self.rng.randrange(9)
        if roll == 0:
            return self.rng.choice(HOSTILE_NUMBERS)
        if roll == 1:
            return self.rng.choice(HOSTILE_TEXT)
        if roll == 2:
            return self.rng.choice((0, -1, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0, 1e308))
        if roll == 3:
            return self.rng.choice((True, False, None))
        if roll == 4:
            return [self.rng.choice(HOSTILE_TEXT) for _ in range(self.rng.choice((0, 1, 300)))]
        if roll == 5:
            return {str(n): n for n in range(self.rng.choice((0, 1, 70)))}
        if roll == 6:
            return {"nested": {"deeper": [1, {"x": "y"}]}}
        if roll == 7:
            return self.rng.choice(self.types)
        return self.rng.choice(HOSTILE_NUMBERS + HOSTILE_TEXT)
