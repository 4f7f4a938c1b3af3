"""Strategy and backtest payloads round-trip exactly against golden JSON files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from engine.protocol.codec import DecodeError, decode, encode
from engine.protocol.payloads import Payload
from engine.protocol.strategies import BacktestProgress, Strategies
from engine.protocol.topics import Topics
from tests.fixtures import strategy_payloads as fixtures

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
CASES: dict[str, Callable[[], Payload]] = {
    "strategies": fixtures.strategies,
    "backtest_progress": fixtures.progress,
    "backtest_result": fixtures.result,
}


@pytest.mark.parametrize("name", CASES)
def test_payload_matches_its_golden_json_and_round_trips(name: str) -> None:
    payload = CASES[name]()
    golden = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    assert json.loads(encode(payload)) == json.loads(golden)
    assert decode(golden, type(payload)) == payload
    assert decode(encode(payload), type(payload)) == payload


def test_listing_round_trips_and_bad_payloads_say_where() -> None:
    listing = fixtures.listing()
    assert msgspec.json.decode(msgspec.json.encode(listing), type=type(listing)) == listing
    data = json.loads(encode(fixtures.strategies()))
    data["strategies"][0]["state"] = "sleeping"
    with pytest.raises(
        DecodeError,
        match=r"Strategies: Invalid enum value .sleeping. - at `\$.strategies\[0\].state`",
    ):
        decode(json.dumps(data), Strategies)
    with pytest.raises(DecodeError, match=r"missing required field `run_id`"):
        decode('{"v": 1, "ts": 1, "strategy": "x", "state": "done", "done": 1, "total": 1}',
               BacktestProgress)  # fmt: skip


def test_topics() -> None:
    topics = Topics("desk")
    assert topics.strategies == "stom/desk/strategy/list"
    assert topics.backtest_progress == "stom/desk/backtest/progress"
