"""Optimization payloads round-trip exactly against golden JSON files; bad ones say where."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from engine.protocol.codec import DecodeError, decode, encode
from engine.protocol.optimize import OptimizeProgress, StudyListing
from engine.protocol.topics import Topics
from tests.fixtures import optimize_payloads as fixtures

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "optimize_progress.json"


def test_progress_matches_its_golden_json_and_round_trips() -> None:
    payload = fixtures.progress()
    golden = GOLDEN.read_text(encoding="utf-8")
    assert json.loads(encode(payload)) == json.loads(golden)
    assert decode(golden, OptimizeProgress) == payload
    assert decode(encode(payload), OptimizeProgress) == payload


def test_listing_round_trips_and_bad_payloads_say_where() -> None:
    listing = fixtures.listing()
    assert msgspec.json.decode(msgspec.json.encode(listing), type=StudyListing) == listing
    data = json.loads(encode(fixtures.progress()))
    data["state"] = "sleeping"
    with pytest.raises(DecodeError, match=r"OptimizeProgress: .*\$\.state"):
        decode(json.dumps(data), OptimizeProgress)
    assert Topics("n").optimize_progress == "stom/n/optimize/progress"
