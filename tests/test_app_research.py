"""The research screens through the Pilot on the real app with a fake feed: sortable and
horizontally scrollable leaderboard and trades, a finished backtest named "finished", ticked
instruments drawn as ticks, the walk-forward and Monte Carlo screens with their tables, figures
and charts, the status line on every screen; and SVG snapshots at 80x24, 120x36 and 160x48
(update with ``--snapshot-update`` only after looking at the new screens)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from rich.console import Group
from rich.table import Table
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot

from engine.protocol.strategies import BacktestProgress, DatasetInfo
from stom_tui.app import StomApp
from stom_tui.screens.backtest import BacktestScreen
from stom_tui.screens.montecarlo import MonteCarloScreen
from stom_tui.screens.optimize import OptimizeScreen
from stom_tui.screens.walkforward import WalkForwardScreen
from stom_tui.widgets.check_list import CheckList
from stom_tui.widgets.sortable_table import SortableTable
from stom_tui.widgets.status_line import StatusLine
from stom_tui.widgets.status_mirror import StatusMirror
from tests.fixtures.app_factory import AppUnderTest, load_market, make_app, settle
from tests.fixtures.fake_feed import FakeFeed, accepted
from tests.fixtures.optimize_payloads import progress as optimize_progress
from tests.fixtures.research_payloads import busy_result, montecarlo, walkforward
from tests.fixtures.strategy_payloads import listing, strategies
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

SnapCompare = Callable[..., bool]
NARROW = (80, 24)
SIZES = [(80, 24), (120, 36), (160, 48)]
SIZE_IDS = ["80x24", "120x36", "160x48"]
DATASETS = [
    DatasetInfo(instrument_id=iid, first_day="2025-11-18", last_day="2025-11-20", days=3)
    for iid in ("KRW-BTC.SIM", "KRW-ETH.SIM", "005930.SIM")
]


def script(feed: FakeFeed) -> None:
    """The commands the research screens send when they open."""
    builtins = msgspec.to_builtins
    feed.script("strategy.list", accepted("strategy.list", strategies=[],
                                          files=strategies().files))  # fmt: skip
    feed.script(
        "backtest.list",
        accepted("backtest.list", results=[builtins(listing())], datasets=builtins(DATASETS)),
    )
    feed.script("backtest.result", accepted("backtest.result", **builtins(busy_result())))
    feed.script("walkforward.status", accepted("walkforward.status",
                                               progress=builtins(walkforward())))  # fmt: skip
    feed.script("montecarlo.status", accepted("montecarlo.status",
                                              progress=builtins(montecarlo())))  # fmt: skip


def backtest_done(**changes: Any) -> BacktestProgress:
    fields: dict[str, Any] = {"ts": 1, "run_id": "bt1", "strategy": "tick_momentum.py",
                              "state": "done", "done": 9, "total": 9,
                              "result_id": busy_result().id}  # fmt: skip
    fields.update(changes)
    return BacktestProgress(**fields)


def opener(kind: str) -> Callable[[StomApp, FakeFeed], Screen[None]]:
    """The screen of ``kind`` as the app would push it (the feed's request, newest progress)."""

    def open_screen(app: StomApp, feed: FakeFeed) -> Screen[None]:
        if kind == "backtest":
            return BacktestScreen(feed.request, backtest_done(state="running", result_id=None))
        if kind == "optimize":
            return OptimizeScreen(feed.request, optimize_progress())
        if kind == "walkforward":
            return WalkForwardScreen(feed.request)
        return MonteCarloScreen(feed.request)

    return open_screen


async def screen_work_done(app: StomApp) -> None:
    """Wait for the commands the active screen sent (not the app's own, endless, feed worker)."""
    screen = app.screen
    workers = [worker for worker in app.workers if worker.node is screen]
    if workers:  # (an empty list would wait for every worker)
        await app.workers.wait_for_complete(workers)


@dataclass
class Session:
    pilot: Pilot[None]
    app: StomApp
    feed: FakeFeed

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await settle(self.pilot)

    async def open(self, kind: str) -> Any:
        self.app.push_screen(opener(kind)(self.app, self.feed))
        await settle(self.pilot)
        await screen_work_done(self.app)
        await settle(self.pilot)
        return self.app.screen


@asynccontextmanager
async def session(size: tuple[int, int] = NARROW) -> AsyncIterator[Session]:
    under = make_app()
    async with under.app.run_test(size=size) as pilot:
        await load_market(pilot, under.feed)
        script(under.feed)
        yield Session(pilot, under.app, under.feed)


def text_of(widget: Static) -> str:
    return str(widget.content)


# --- sorting and scrolling --------------------------------------------------------------------


async def test_the_leaderboard_sorts_by_the_chosen_column_and_reverses() -> None:
    async with session() as s:
        screen = await s.open("optimize")
        board = screen.query_one("#opt-board", SortableTable)
        board.focus()
        assert board.keys_in_order == ["1", "2", "3"]  # by rank
        await s.press("greater_than_sign")  # score, lowest first; infeasible last
        assert board.keys_in_order == ["2", "1", "3"]
        assert str(board.columns[board.ordered_columns[1].key].label) == "Score ▲"
        await s.press("r")
        assert board.keys_in_order == ["1", "2", "3"]  # highest first, infeasible still last
        await s.press("greater_than_sign", "greater_than_sign")  # drawdown
        assert board.keys_in_order == ["2", "1", "3"]  # drawdown, still reversed: largest first
        await s.press("less_than_sign", "less_than_sign", "less_than_sign")  # back to rank
        assert [str(board.get_row_at(n)[0]) for n in range(3)] == ["3", "2", "1"]


async def test_every_leaderboard_column_is_reachable_at_80x24() -> None:
    async with session(NARROW) as s:
        screen = await s.open("optimize")
        board = screen.query_one("#opt-board", SortableTable)
        board.focus()
        widths = [column.get_render_width(board) for column in board.ordered_columns]
        assert sum(widths[:5]) <= board.scrollable_content_region.width, (
            "rank, score, return, drawdown and trades are in view without scrolling"
        )
        assert board.scroll_x == 0 and board.max_scroll_x > 0
        await s.press("end")
        assert board.scroll_x == board.max_scroll_x
        last_left = sum(widths[:-1])
        assert last_left >= board.scroll_x
        assert last_left + widths[-1] <= board.scroll_x + board.scrollable_content_region.width
        assert "minimum 10" in str(board.get_row_at(2)[6])
        await s.press("home")
        assert board.scroll_x == 0


# --- backtest ---------------------------------------------------------------------------------


async def test_a_finished_backtest_is_named_finished_and_its_trades_fill_the_pane() -> None:
    async with session(NARROW) as s:
        screen = await s.open("backtest")
        assert isinstance(screen, BacktestScreen)
        screen.show_progress(backtest_done())  # the run ends: its result opens
        await settle(s.pilot)
        await screen_work_done(s.app)
        await settle(s.pilot)
        assert s.feed.sent("backtest.result") == [{"id": busy_result().id}]
        title = text_of(screen.query_one("#bt-title", Static))
        assert "TickMomentum finished" in title and "running" not in title
        status = text_of(screen.query_one("#bt-status", Static))
        assert status == f"Run bt1 finished: {busy_result().id}"
        trades = screen.query_one("#bt-trades", SortableTable)
        assert trades.row_count == 14
        assert trades.size.height - 1 >= 4, "at 80x24 the trades table shows several rows"
        newest = [str(trades.get_row_at(n)[3]) for n in range(3)]
        assert newest == ["-1,650,000", "-610,000", "+990,000"]  # newest exit first
        trades.focus()
        await s.press(
            "less_than_sign",
            "less_than_sign",
            "less_than_sign",
            "less_than_sign",
            "less_than_sign",
            "less_than_sign",
        )  # fmt: skip  (back around to PnL)
        assert trades.sort_index == 3
        pnls = [str(trades.get_row_at(n)[3]) for n in range(trades.row_count)]
        assert pnls[0] == "+1,640,000" and pnls[-1] == "-1,650,000"  # reversed: largest first

        screen.show_progress(backtest_done(run_id="bt2", state="failed", error="cancelled"))
        assert text_of(screen.query_one("#bt-status", Static)) == "Run bt2 cancelled"
        screen.show_progress(backtest_done(run_id="bt3", state="failed", error="x.py:3: boom"))
        assert "Run bt3 failed: x.py:3: boom" in text_of(screen.query_one("#bt-status", Static))


async def test_instruments_are_ticked_with_a_visible_mark_and_toggle() -> None:
    async with session((120, 36)) as s:
        screen = await s.open("backtest")
        await s.press("f1")
        instruments = screen.query_one("#bt-instruments", CheckList)
        assert instruments.selected == ["KRW-BTC.SIM"]
        lines = [instruments.render_line(y).text for y in range(3)]
        assert "▐X▌" in lines[0] and "▐ ▌" in lines[1] and "▐ ▌" in lines[2]
        label = screen.query_one("#bt-instruments-label")
        assert "1 of 3 ticked" in str(label.render())
        instruments.focus()
        instruments.highlighted = 1
        await s.press("space")
        assert instruments.selected == ["KRW-BTC.SIM", "KRW-ETH.SIM"]
        assert "▐X▌" in instruments.render_line(1).text
        assert "2 of 3 ticked" in str(label.render())
        await s.press("ctrl+r")
        await screen_work_done(s.app)
        assert s.feed.sent("backtest.run")[-1]["instruments"] == ["KRW-BTC.SIM", "KRW-ETH.SIM"]


# --- walk-forward and Monte Carlo -------------------------------------------------------------


async def test_the_walk_forward_screen_shows_windows_efficiency_and_runs() -> None:
    async with session(NARROW) as s:
        s.feed.script("walkforward.run", accepted("walkforward.run", run_id="wf2", name="w"))
        s.feed.script("walkforward.cancel", accepted("walkforward.cancel", run_id="wf2", name="w"))
        screen = await s.open("walkforward")
        assert isinstance(screen, WalkForwardScreen)
        status = text_of(screen.query_one(".rs-status", Static))
        assert status.startswith("wf1 finished: 3 of 3 windows") and "efficiency 0.23" in status
        table = screen.query_one("#wf-windows", SortableTable)
        assert table.row_count == 3
        assert [str(c) for c in table.get_row_at(2)[:4]] == ["3", "+0.90%", "-0.60%", "-0.70"]
        chart = screen.query_one("#wf-chart", PlotextPlot)
        assert "efficiency per window" in chart.plt.build() and "W3" in chart.plt.build()
        await s.press("c")
        assert "in-sample against out-of-sample" in chart.plt.build()

        screen.query_one("#wf-strategy", Select).value = "tick_momentum.py"
        screen.query_one("#wf-train", Input).value = "2"
        screen.query_one("#wf-params", Input).value = "window=10:100:10"
        await s.press("ctrl+r")
        await screen_work_done(s.app)
        assert s.feed.sent("walkforward.run") == [
            {"strategy": "tick_momentum.py", "mode": "rolling", "method": "grid",
             "objective": "sharpe", "train": 2, "test": 1, "trials": 50, "seed": 0,
             "params": {"window": "10:100:10"}}
        ]  # fmt: skip
        await s.press("ctrl+x")
        await screen_work_done(s.app)
        assert s.feed.sent("walkforward.cancel") == [{}]


async def test_the_monte_carlo_screen_shows_the_fan_and_the_ruin_probability() -> None:
    async with session(NARROW) as s:
        s.feed.script("montecarlo.run", accepted("montecarlo.run", run_id="mc2", name="r"))
        screen = await s.open("montecarlo")
        assert isinstance(screen, MonteCarloScreen)
        shown = screen.query_one("#mc-figures", Static).content
        assert isinstance(shown, Group)
        ruin, table = shown.renderables
        assert (
            str(ruin) == "probability of ruin 17.70% (equity ≤ 97% of 100,000,000 KRW at any point)"
        )
        assert isinstance(table, Table) and table.row_count == 2
        status = text_of(screen.query_one(".rs-status", Static))
        assert "mc1 finished" in status and "2,000 runs, seed 3, ruin at 97%" in status
        chart = screen.query_one("#mc-chart", PlotextPlot).plt.build()
        assert "median" in chart and "95 %" in chart and "5 %" in chart
        assert screen.query_one("#mc-result", Select).value == listing().id
        # A lone sign is text an integer field accepts: named, nothing sent, the console stays.
        screen.query_one("#mc-runs", Input).value = "-"
        await s.press("ctrl+r")
        await screen_work_done(s.app)
        assert "Runs and seed: whole numbers" in text_of(screen.query_one(".rs-status", Static))
        assert s.feed.sent("montecarlo.run") == [] and s.app.is_running
        screen.query_one("#mc-runs", Input).value = "500"
        await s.press("ctrl+r")
        await screen_work_done(s.app)
        assert s.feed.sent("montecarlo.run") == [
            {"result": listing().id, "runs": 500, "seed": 0, "ruin": 0.5, "method": "shuffle"}
        ]


async def test_monte_carlo_opens_on_the_result_shown_and_walk_forward_on_the_file() -> None:
    async with session(NARROW) as s:
        screen = await s.open("backtest")
        screen.show_progress(backtest_done())
        await settle(s.pilot)
        await screen_work_done(s.app)
        await s.press("m")
        await screen_work_done(s.app)
        await settle(s.pilot)
        monte_carlo = s.app.screen
        assert isinstance(monte_carlo, MonteCarloScreen)
        assert monte_carlo.result_id == busy_result().id
        await s.press("escape", "escape")
        screen = await s.open("optimize")
        screen.query_one("#opt-strategy", Select).value = "tick_momentum.py"
        screen.query_one("#opt-board").focus()
        await s.press("w")
        await screen_work_done(s.app)
        await settle(s.pilot)
        walk_forward = s.app.screen
        assert isinstance(walk_forward, WalkForwardScreen)
        assert walk_forward.query_one("#wf-strategy", Select).value == "tick_momentum.py"


@pytest.mark.parametrize("kind", ["backtest", "optimize", "walkforward", "montecarlo"])
async def test_the_status_line_stays_on_every_research_screen(kind: str) -> None:
    async with session(NARROW) as s:
        main_line = next(
            line for line in s.app.screen.query(StatusLine) if not isinstance(line, StatusMirror)
        )
        assert main_line.health is not None
        screen = await s.open(kind)
        mirror = screen.query_one(StatusMirror)
        await s.pilot.pause(0.3)
        assert mirror.health == main_line.health
        assert mirror.region.y == NARROW[1] - 2 and mirror.region.width == NARROW[0]
        assert str(mirror.render()) == str(main_line.render())


# --- snapshots --------------------------------------------------------------------------------


def _opened(under: AppUnderTest, kind: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await load_market(pilot, under.feed)
        script(under.feed)
        screen = opener(kind)(under.app, under.feed)
        under.app.push_screen(screen)
        await settle(pilot)
        await screen_work_done(under.app)
        if isinstance(screen, BacktestScreen):
            screen.show_progress(backtest_done())
            await settle(pilot)
            await screen_work_done(under.app)
        for _ in range(3):
            await pilot.pause()
        await pilot.pause(0.3)  # the status line mirror has copied the app's line

    return run_before


@pytest.mark.usefixtures("utc_clock")
@pytest.mark.parametrize("kind", ["backtest", "optimize", "walkforward", "montecarlo"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_research_screen_snapshot(
    snap_compare: SnapCompare, kind: str, size: tuple[int, int]
) -> None:
    under = make_app()
    assert snap_compare(under.app, terminal_size=size, run_before=_opened(under, kind))
