"""SVG snapshots of the main screen fed by the seeded simulator (frozen clock), 80x24 and 160x48.

Update with ``--snapshot-update`` only after looking at the new screens.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from stom_tui.app import StomApp
from tests.fixtures.app_factory import make_app, settle
from tests.fixtures.simulated_market import simulated_payloads
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

pytestmark = pytest.mark.usefixtures("utc_clock")
SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen_on_the_seeded_simulator(snap_compare: SnapCompare, size: tuple[int, int]):
    under = make_app()
    payloads = simulated_payloads()

    async def run_before(pilot: Pilot[None]) -> None:
        await under.feed.running.wait()
        under.feed.post_all(payloads)
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, StomApp)
        app.chart.flush()
        await pilot.pause()

    assert snap_compare(under.app, terminal_size=size, run_before=run_before)


def test_the_simulation_is_deterministic() -> None:
    assert simulated_payloads() == simulated_payloads()
