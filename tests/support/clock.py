"""A pinned time zone for snapshot tests: log timestamps are local time."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def utc_clock() -> Iterator[None]:
    """Pin TZ to UTC for the test so rendered times match on every machine, then restore it."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()
