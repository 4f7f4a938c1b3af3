"""SVG snapshots of the main screen on fixed data and a frozen clock: the Market view (price
ladder, chart, time & sales) at 80x24, 120x36 and 160x48, the other views, the ticket over the
ladder, confirms and the offline state.

Update with ``pytest tests/test_app_snapshots.py --snapshot-update`` only after looking at the
new screens (render the SVGs to PNG and check the layout at both sizes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from engine.protocol.payloads import EngineStatus
from tests.fixtures.app_factory import AppUnderTest, drawn, load_market, make_app, settle
from tests.fixtures.market_payloads import ENGINE_ID, SNAPSHOT_TS_NS, snapshot_payloads
from tests.fixtures.trading_payloads import killed_risk, trading_payloads
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

pytestmark = pytest.mark.usefixtures("utc_clock")
SnapCompare = Callable[..., bool]
SMALL = (80, 24)
MEDIUM = (120, 36)
WIDE = (160, 48)


def _loaded(under: AppUnderTest, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await drawn(pilot)

    return run_before


@pytest.mark.parametrize("size", [SMALL, MEDIUM, WIDE], ids=["80x24", "120x36", "160x48"])
def test_main_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_loaded(under))


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_engine_offline(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    load = _loaded(under)

    async def run_before(pilot: Pilot[None]) -> None:
        await load(pilot)
        under.feed.post(
            EngineStatus(
                state="offline", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS, reason="connection lost"
            )
        )
        await settle(pilot)
        await drawn(pilot)

    assert snap_compare(under.app, terminal_size=size, run_before=run_before)


def test_log_in_the_charts_place_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=SMALL, run_before=_loaded(under, "l"))


def test_help_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    run_before = _loaded(under, "question_mark")
    assert snap_compare(under.app, terminal_size=SMALL, run_before=run_before)


def test_second_instrument_at_160x48(snap_compare: SnapCompare) -> None:
    under = make_app()
    load = _loaded(under, "down", "down", "down")

    async def run_before(pilot: Pilot[None]) -> None:
        await load(pilot)
        # The fake feed does not resend per-instrument data on selection; post it again.
        under.feed.post_all(p for p in snapshot_payloads() if getattr(p, "id", "") == "005930.SIM")
        await settle(pilot)
        await drawn(pilot)

    assert snap_compare(under.app, terminal_size=WIDE, run_before=run_before)


# --- trading ---------------------------------------------------------------------------------


def _trading(under: AppUnderTest, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """The snapshot market with orders, positions, account and risk, then ``keys``."""

    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        under.feed.post_all(trading_payloads())
        await settle(pilot)
        # Drawn before any key: a modal (the ticket) keeps the chart from replotting under it,
        # so what it shows must not depend on whether its timer fired first.
        await drawn(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await drawn(pilot)

    return run_before


@pytest.mark.parametrize("size", [SMALL, MEDIUM, WIDE], ids=["80x24", "120x36", "160x48"])
def test_trading_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_trading(under))


def test_orders_view_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=SMALL, run_before=_trading(under, "O"))


def test_positions_view_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=SMALL, run_before=_trading(under, "p"))


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_order_ticket(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    run_before = _trading(under, "b", "0", ".", "0", "1", "up")
    assert snap_compare(under.app, terminal_size=size, run_before=run_before)


def test_order_ticket_with_problems_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    run_before = _trading(under, "s", "ctrl+n", *"4000")
    assert snap_compare(under.app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_kill_confirm(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_trading(under, "K", "f"))


def test_kill_switch_on_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    load = _trading(under)

    async def run_before(pilot: Pilot[None]) -> None:
        await load(pilot)
        under.feed.post(killed_risk())
        await settle(pilot)
        under.app.clear_notifications()  # toasts time out on the wall clock: keep them out
        await settle(pilot)
        await drawn(pilot)

    assert snap_compare(under.app, terminal_size=SMALL, run_before=run_before)


def test_ladder_focused_with_its_cursor_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    run_before = _trading(under, "L", "up", "up", "up")
    assert snap_compare(under.app, terminal_size=SMALL, run_before=run_before)


def test_ladder_order_confirm_at_80x24(snap_compare: SnapCompare) -> None:
    under = make_app()
    run_before = _trading(under, "L", "down", "b")
    assert snap_compare(under.app, terminal_size=SMALL, run_before=run_before)
