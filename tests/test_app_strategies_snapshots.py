"""SVG snapshots of the Strategies pane and the backtest screen at 80x24 and 160x48.

Update with ``--snapshot-update`` only after looking at the new screens (rsvg-convert to PNG).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
import pytest
from textual.pilot import Pilot

from tests.fixtures.app_factory import AppUnderTest, drawn, load_market, make_app, settle
from tests.fixtures.strategy_payloads import progress, result, strategies
from tests.fixtures.trading_payloads import trading_payloads
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)
from tests.test_app_strategies import script_backtest_commands

pytestmark = pytest.mark.usefixtures("utc_clock")
SnapCompare = Callable[..., bool]
SMALL = (80, 24)
WIDE = (160, 48)


def _with_strategies(under: AppUnderTest, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        under.feed.post_all(trading_payloads())
        under.feed.post(strategies())
        await settle(pilot)
        await drawn(pilot)  # before any key: a screen pushed on top keeps the chart as it was
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_strategies_pane_at_160x48(snap_compare: SnapCompare) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=WIDE, run_before=_with_strategies(under))


def test_strategies_view_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=SMALL, run_before=_with_strategies(under, "S"))


def _backtest(under: AppUnderTest, *, done: bool) -> Callable[[Pilot[None]], Awaitable[None]]:
    load = _with_strategies(under)

    async def run_before(pilot: Pilot[None]) -> None:
        script_backtest_commands(under.feed)
        under.feed.script("backtest.run", lambda args: _accepted_run())
        await load(pilot)
        await pilot.press("r")
        for _ in range(6):
            await settle(pilot)
        if done:
            await pilot.press("ctrl+r")
            await settle(pilot)
            under.feed.post(
                msgspec.structs.replace(progress(), state="done", result_id=result().id)
            )
        else:
            under.feed.post(progress())
        for _ in range(6):
            await settle(pilot)

    return run_before


def _accepted_run():  # type: ignore[no-untyped-def]
    from tests.fixtures.fake_feed import accepted

    return accepted("backtest.run", run_id="r1")


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_backtest_setup(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_backtest(under, done=False))


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_backtest_result(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_backtest(under, done=True))
