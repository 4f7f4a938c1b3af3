"""SVG snapshots of the Market view fed by the seeded simulator (frozen clock) at 80x24, 120x36
and 160x48: price ladder, chart and time & sales on a simulated market.

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


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 36), (160, 48)], ids=["80x24", "120x36", "160x48"]
)
def test_main_screen_on_the_seeded_simulator(snap_compare: SnapCompare, size: tuple[int, int]):
    under = make_app()
    payloads = simulated_payloads()

    async def run_before(pilot: Pilot[None]) -> None:
        await under.feed.running.wait()
        under.feed.post_all(payloads)
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, StomApp)
        await pilot.pause(0.15)  # the ladder redraws on its timer
        app.chart.flush()
        app.tape.flush()
        await settle(pilot)

    assert snap_compare(under.app, terminal_size=size, run_before=run_before)


def test_the_simulation_is_deterministic() -> None:
    assert simulated_payloads() == simulated_payloads()
