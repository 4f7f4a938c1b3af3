"""Shared fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.support.brokers import Broker, running_broker

# Property tests judge correctness, not speed: on a loaded 2-core CI machine a per-example
# deadline only adds flakiness (speed is measured in bench/).
hypothesis_settings.register_profile("stom", deadline=None)
hypothesis_settings.load_profile("stom")


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A real broker on a free loopback port: the embedded amqtt one and a real Mosquitto."""
    with running_broker(request.param) as running:
        yield running


@pytest.fixture
def mosquitto() -> Iterator[Broker]:
    with running_broker("mosquitto") as running:
        yield running


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once, and clearly, if the system tools the suite drives are missing."""
    missing = [
        tool
        for tool in ("mosquitto", "tmux")
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        raise pytest.UsageError(
            f"the test suite needs {' and '.join(missing)}: apt-get install {' '.join(missing)}"
        )
