"""The MQTT contract is one table and one set of types, and what is published matches the code.

- The JSON Schema files under docs/schema/ are what the code generates (drift fails here).
- The topic table of docs/protocol.md is the one engine/protocol/table.py makes.
- The console maps every topic it subscribes to, and subscribes to what the table says.
- Every command has a typed result; golden JSON round-trips for every payload, command and
  result type.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.cli.schema_docs import PROTOCOL_DOC, SCHEMA_DIR, rendered, with_topic_table
from engine.config.settings import BusSettings, Settings
from engine.protocol import codec
from engine.protocol.commands import COMMAND_ARGS, COMMAND_TYPES, convert_command, decode_command
from engine.protocol.payloads import Reply
from engine.protocol.results import RESULT_TYPES
from engine.protocol.table import TABLE, markdown_table
from engine.protocol.topics import TIMEFRAMES, Topics
from stom_tui import messages
from stom_tui.feed import MqttFeed
from tests.support.protocol_samples import sample

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "contract"
UPDATE = os.environ.get("STOM_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(rendered()))
def test_published_json_schema_matches_the_code(name: str) -> None:
    published = SCHEMA_DIR / name
    assert published.exists(), f"{published} missing: run python -m engine.cli.schema_docs"
    assert published.read_text(encoding="utf-8") == rendered()[name], (
        f"{published} drifted from the code: run python -m engine.cli.schema_docs"
    )


def test_the_docs_topic_table_is_the_protocol_table() -> None:
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    assert with_topic_table(text) == text, "run python -m engine.cli.schema_docs"
    assert markdown_table() in text


def test_the_console_subscribes_routes_and_maps_what_the_table_says() -> None:
    feed = MqttFeed(Settings(bus=BusSettings(namespace="unit")), host="127.0.0.1", port=1)
    topics = Topics("unit")
    console = {spec for spec in TABLE if spec.console != "no"}
    assert set(messages._MESSAGE_FOR_TOPIC) == console
    fixed, per_instrument = feed._routes()
    assert fixed.pop(feed.reply_topic) is Reply
    assert fixed == {
        spec.topic(topics.root): spec.payload for spec in console if spec.console == "all"
    }
    assert {kind for _, kind in per_instrument} == {
        spec.payload for spec in console if spec.per_instrument
    }
    # The chart cycles its timeframes without a round trip: every live timeframe is followed.
    # Closed bars come from md.history (on a switch or an attach), not the retained histories.
    assert feed._instrument_topics("KRW-BTC.SIM") == [
        (topics.book("KRW-BTC.SIM"), 0),
        (topics.trades("KRW-BTC.SIM"), 0),
        *[(topics.bar(tf, "KRW-BTC.SIM"), 0) for tf in TIMEFRAMES],
    ]


def test_every_command_has_its_struct_and_its_result() -> None:
    assert set(COMMAND_TYPES) == set(COMMAND_ARGS) == set(RESULT_TYPES)
    for type_, struct in COMMAND_TYPES.items():
        command = sample(struct)
        assert command.type == type_
        assert decode_command(codec.encode(command)) == command
        assert convert_command(msgspec.to_builtins(command)) == command


def _golden_cases() -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for spec in TABLE:
        cases[f"payload.{spec.payload.__name__}"] = spec.payload
    for type_, struct in COMMAND_TYPES.items():
        cases[f"command.{type_}"] = struct
    for kind in set(RESULT_TYPES.values()):
        cases[f"result.{kind.__name__}"] = kind
    return cases


CASES = _golden_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_json_round_trips(name: str) -> None:
    kind = CASES[name]
    value = sample(kind)
    data = codec.encode(value)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_bytes(msgspec.json.format(data, indent=2) + b"\n")
    golden = path.read_bytes()
    assert msgspec.json.decode(golden) == msgspec.json.decode(data), f"{path} differs"
    assert msgspec.json.decode(golden, type=kind) == value
    assert msgspec.json.decode(codec.encode(msgspec.json.decode(golden, type=kind)), type=kind) == (
        value
    )


def test_there_is_a_golden_file_for_every_type_and_no_stale_one() -> None:
    on_disk = {path.stem for path in GOLDEN.glob("*.json")}
    assert on_disk == set(CASES)
