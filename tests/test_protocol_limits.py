"""Bounds on decoded input: size, nesting and decimal text, checked before any parser runs."""

from __future__ import annotations

import logging
import time

import pytest

from engine.domain.clock import TestClock
from engine.log_bridge import BusLogHandler
from engine.outbox import Outbox
from engine.protocol import codec
from engine.protocol.limits import (
    MAX_DEPTH,
    MAX_LOG_BYTES,
    MAX_LOG_TEXT,
    LimitExceeded,
    cap_text,
    check_decimal,
    check_payload,
)
from engine.protocol.payloads import EngineStatus, LogEvent
from engine.protocol.topics import Topics


@pytest.mark.parametrize(
    "text",
    ["1", "0.00094678", "103493000", " 12.5 ", "1e30", "-1E-30", ".5", "5.", "9" * 30],
)
def test_plain_decimals_pass(text: str) -> None:
    assert check_decimal(text, "price") == text.strip()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e1000000", "price '1e1000000': exponent beyond ±30"),
        ("1e31", "price '1e31': exponent beyond ±30"),
        ("1e999999999999", "price '1e999999999999': exponent beyond ±30"),
        ("9" * 31, f"price '{'9' * 31}' has more than 30 digits"),
        ("0." + "0" * 30 + "1", "has more than 30 digits"),
        ("1" * 5000, "is not a number"),
        ("NaN", "price 'NaN' is not a number"),
        ("Infinity", "is not a number"),
        ("0x10", "is not a number"),
        ("1_000", "is not a number"),
        ("١", "is not a number"),  # an Arabic-Indic digit: Decimal would take it
        ("", "price '' is not a number"),
        (".", "is not a number"),
    ],
)
def test_hostile_decimals_are_refused_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_decimal(text, "price")
    assert reason in str(caught.value)


def test_nesting_is_counted_outside_strings_only() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    check_payload(deep, 10_000)
    check_payload(b'{"a": "' + b"[" * 1000 + b'"}', 10_000)  # brackets in text do not nest
    check_payload(b'{"a": "\\"[[[[", "b": 1}', 10_000)  # nor after an escaped quote
    with pytest.raises(LimitExceeded, match="deeper than the limit of 32"):
        check_payload(b"[" + deep + b"]", 10_000)
    with pytest.raises(LimitExceeded, match="payload is 10,001 bytes; the limit is 10,000"):
        check_payload(b" " * 10_001, 10_000)


def test_the_check_is_fast_on_the_largest_payloads() -> None:
    data = b'{"s": "' + b"x" * 60_000 + b'", "a": [' + b"[1, 2], " * 500 + b"[]]}"
    start = time.perf_counter()
    for _ in range(100):
        check_payload(data, 64 * 1024)
    assert (time.perf_counter() - start) / 100 < 0.005


def test_decode_refuses_what_would_crash_the_parser() -> None:
    deep = b'{"v":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(codec.DecodeError, match="limit: payload nests deeper"):
        codec.decode(deep, EngineStatus)
    with pytest.raises(codec.DecodeError, match="limit: payload is"):
        codec.decode(b"[" + b"1," * 40_000 + b"1]", LogEvent, max_bytes=64 * 1024)
    with pytest.raises(codec.DecodeError, match="malformed JSON"):
        codec.decode(b'{"state": "\\ud800"}', EngineStatus)


def test_cap_text_marks_a_cut() -> None:
    assert cap_text("abc", 3) == "abc"
    assert cap_text("abcd", 3) == "ab…"


def test_the_engine_caps_log_lines_it_publishes() -> None:
    outbox = Outbox()
    handler = BusLogHandler(outbox, Topics("t"), TestClock(1), logging.INFO)
    record = logging.LogRecord(
        "stom.x", logging.WARNING, __file__, 1, "%s", ("\u0000" * 100_000,), None
    )
    handler.emit(record)
    [sent] = outbox.take()
    event = codec.decode(sent.data, LogEvent, MAX_LOG_BYTES)
    assert len(event.message) == MAX_LOG_TEXT and event.message.endswith("…")
