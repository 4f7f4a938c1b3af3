"""The optimization screen (``O``) through the Pilot with a fake feed: the run command, progress
and the leaderboard from the bus, applying a row to the running strategy after a confirm; and
SVG snapshots (update with ``--snapshot-update`` only after looking at the new screens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, ProgressBar, Select, Static

from engine.protocol.optimize import OptimizeProgress, TrialInfo
from stom_tui.screens.confirm import ConfirmScreen
from stom_tui.screens.optimize import OptimizeScreen, parse_ranges
from tests.fixtures.app_factory import AppUnderTest, load_market, make_app, settle
from tests.fixtures.fake_feed import FakeFeed, accepted, rejected
from tests.fixtures.optimize_payloads import progress
from tests.fixtures.strategy_payloads import strategies
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)
from tests.test_app_strategies import session

SnapCompare = Callable[..., bool]


def momentum_progress(**changes: object) -> OptimizeProgress:
    """A run of the fixture's running strategy file (``tick_momentum.py``)."""
    leaders = [
        TrialInfo(params={"window": 60, "threshold": 0.7}, score=1.9, total_return=0.012,
                  max_drawdown=0.004, trades=40),
        TrialInfo(params={"window": 20, "threshold": 0.9}, score=None, total_return=0.001,
                  max_drawdown=0.001, trades=2, reason="2 trades < minimum 5"),
    ]  # fmt: skip
    fields: dict[str, object] = {"strategy": "tick_momentum.py", "leaderboard": leaders}
    fields.update(changes)
    return msgspec.structs.replace(progress(), **fields)


def script(feed: FakeFeed) -> None:
    files = strategies().files
    feed.script("strategy.list", accepted("strategy.list", strategies=[], files=files))


def test_ranges_parse_and_bad_items_are_named() -> None:
    assert parse_ranges("fast=10:50:5  slow=100") == {"fast": "10:50:5", "slow": "100"}
    assert parse_ranges("") == {}
    with pytest.raises(ValueError, match="'fast': expected name=low:high:step"):
        parse_ranges("fast")


async def test_run_progress_leaderboard_and_apply_with_confirm() -> None:
    async with session() as s:
        script(s.feed)
        s.feed.script("optimize.run", accepted("optimize.run", run_id="opt1", study="st"))
        s.feed.script("strategy.params", accepted("strategy.params", strategy={}))
        await s.press("o")
        screen = s.app.screen
        assert isinstance(screen, OptimizeScreen)
        await s.finish()
        assert screen.query_one("#opt-strategy", Select).value == strategies().files[0]
        screen.query_one("#opt-strategy", Select).value = "tick_momentum.py"
        screen.query_one("#opt-params", Input).value = "window=10:100:10 threshold=0.8"
        screen.query_one("#opt-trials", Input).value = "50"
        await s.press("ctrl+r")
        await s.finish()
        assert s.feed.sent("optimize.run") == [
            {"strategy": "tick_momentum.py", "method": "ga", "objective": "sharpe",
             "params": {"window": "10:100:10", "threshold": "0.8"}, "trials": 50, "seed": 0,
             "min_trades": 0}
        ]  # fmt: skip
        assert "opt1 started: study st" in str(screen.query_one("#opt-status", Static).content)

        s.feed.post(momentum_progress())
        await settle(s.pilot)
        assert screen.query_one("#opt-progress", ProgressBar).percentage == 0.42
        board = screen.query_one("#opt-board", DataTable)
        assert board.row_count == 2
        assert str(board.get_row_at(1)[1]) == "infeasible"
        assert "minimum 5" in str(board.get_row_at(1)[6])

        board.focus()
        board.move_cursor(row=1)
        await s.press("a")  # an infeasible row: refused, nothing asked
        assert not isinstance(s.app.screen, ConfirmScreen)
        assert "infeasible" in str(screen.query_one("#opt-status", Static).content)
        board.move_cursor(row=0)
        await s.press("a")
        assert isinstance(s.app.screen, ConfirmScreen)
        assert "window=60 threshold=0.7 on momentum" in s.app.screen.body
        await s.press("escape")  # backing out sends nothing
        assert s.feed.sent("strategy.params") == []
        await s.press("a", "enter")
        await s.finish()
        assert s.feed.sent("strategy.params") == [
            {"id": "momentum", "params": {"window": 60, "threshold": 0.7}}
        ]
        assert "momentum now runs with window=60" in str(
            screen.query_one("#opt-status", Static).content
        )


async def test_rejections_and_a_file_no_strategy_runs_are_shown() -> None:
    async with session() as s:
        script(s.feed)
        s.feed.script("optimize.run", rejected("optimize.run", "the grid has 9,000 points"))
        await s.press("o")
        screen = s.app.screen
        assert isinstance(screen, OptimizeScreen)
        await s.finish()
        await s.press("ctrl+r")
        await s.finish()
        assert "the grid has 9,000 points" in str(screen.query_one("#opt-status", Static).content)
        s.feed.post(progress())  # two_ma.py: the engine runs no strategy of that file
        await settle(s.pilot)
        screen.query_one("#opt-board", DataTable).focus()
        await s.press("a")
        assert not isinstance(s.app.screen, ConfirmScreen)
        assert "No strategy of the engine runs two_ma.py" in str(
            screen.query_one("#opt-status", Static).content
        )


async def test_a_run_that_ends_while_the_screen_is_closed_is_announced_once() -> None:
    async with session() as s:
        s.feed.post(momentum_progress())  # the run this console watched going
        await settle(s.pilot)
        done = momentum_progress(state="done", done=100)
        s.feed.post(done)
        s.feed.post(done)
        await settle(s.pilot)
        assert [t for t in s.toast_texts() if "optimization" in t] == [
            "optimization opt1 done: 100 trials, study two_ma-ga-1a2b3c4d"
        ]


async def test_the_retained_end_of_an_old_run_is_not_announced() -> None:
    async with session() as s:
        s.feed.post(momentum_progress(state="done", done=100))  # what a new console gets first
        await settle(s.pilot)
        assert [t for t in s.toast_texts() if "optimization" in t] == []


# --- snapshots --------------------------------------------------------------------------------


def _opened(under: AppUnderTest) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        under.feed.post(strategies())
        script(under.feed)
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        for _ in range(3):
            await pilot.pause()
        under.feed.post(progress())
        await settle(pilot)

    return run_before


@pytest.mark.usefixtures("utc_clock")
@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_optimize_screen_snapshot(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_opened(under))
