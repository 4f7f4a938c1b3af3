"""The Strategies pane, ``t`` and the backtest screen, through the Pilot with a fake feed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from rich.console import Console
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, ProgressBar, Select, SelectionList, Sparkline, Static

from engine.protocol.strategies import Strategies
from stom_tui.app import StomApp
from stom_tui.screens.backtest import BacktestScreen
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.fake_feed import FakeFeed, accepted, rejected
from tests.fixtures.strategy_payloads import listing, progress, result, strategies

WIDE = (160, 48)
SMALL = (80, 24)


def plain(renderable: Any) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


class Session:
    def __init__(self, pilot: Pilot[None], app: StomApp, feed: FakeFeed, toasts: list) -> None:
        self.pilot, self.app, self.feed, self.toasts = pilot, app, feed, toasts

    def toast_texts(self) -> list[str]:
        return [toast.message for toast in self.toasts]

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)
            await settle(self.pilot)

    async def finish(self) -> None:
        """Let command workers (not the feed) finish."""
        for _ in range(5):
            await self.pilot.pause()
            workers = [w for w in self.app.workers if w.group != "feed" and not w.is_finished]
            if workers:
                await self.app.workers.wait_for_complete(workers)
        await settle(self.pilot)


def script_backtest_commands(feed: FakeFeed) -> None:
    payload = strategies()
    feed.script("strategy.list", accepted("strategy.list", strategies=[], files=payload.files))
    feed.script(
        "backtest.list",
        accepted(
            "backtest.list",
            results=[msgspec.to_builtins(listing())],
            datasets=[
                {"instrument_id": "KRW-BTC.SIM", "first_day": "2025-11-18",
                 "last_day": "2025-11-20", "days": 3},
                {"instrument_id": "005930.SIM", "first_day": "2025-11-19",
                 "last_day": "2025-11-20", "days": 2},
            ],
        ),
    )  # fmt: skip
    feed.script(
        "strategy.describe",
        accepted(
            "strategy.describe",
            name="BookImbalance",
            params=[msgspec.to_builtins(p) for p in payload.strategies[0].params],
        ),
    )
    feed.script("backtest.result", accepted("backtest.result", **msgspec.to_builtins(result())))


@asynccontextmanager
async def session(
    size: tuple[int, int] = WIDE, *, with_strategies: bool = True
) -> AsyncIterator[Session]:
    under = make_app()
    toasts: list[Notification] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            toasts.append(message.notification)

    async with under.app.run_test(size=size, message_hook=hook) as pilot:
        await load_market(pilot, under.feed)
        if with_strategies:
            under.feed.post(strategies())
            await settle(pilot)
        yield Session(pilot, under.app, under.feed, toasts)


async def test_the_pane_appears_with_the_first_strategy_and_updates_rows_in_place() -> None:
    async with session(with_strategies=False) as s:
        pane = s.app.strategies_pane
        assert not pane.display or not pane.region.height  # no strategies: the old layout
        s.feed.post(strategies())
        await settle(s.pilot)
        assert pane.region.height > 0
        assert pane.row_keys == ["momentum", "imbalance", "vwap"]
        assert pane.cell_text("momentum", "state") == "running"
        assert pane.cell_text("momentum", "pnl") == "+11,719"
        assert pane.cell_text("imbalance", "state") == "stopped"
        assert pane.cell_text("vwap", "state") == "error"
        assert pane.cell_text("vwap", "detail").startswith("strategies/vwap_reversion.py:57: ")
        assert pane.border_title == "Strategies · 1/3 running · 1 error"
        pane.select_key("vwap")
        changed = strategies()
        changed.strategies[0] = msgspec.structs.replace(changed.strategies[0], pnl="-50", fills=15)
        s.feed.post(changed)
        await settle(s.pilot)
        assert pane.cell_text("momentum", "pnl") == "-50"
        assert pane.cell_text("momentum", "fills") == "15"
        assert pane.highlighted_key == "vwap"  # the cursor stays on its strategy


async def test_t_toggles_the_selected_strategy_and_shows_the_reply() -> None:
    async with session() as s:
        row = msgspec.to_builtins(strategies().strategies[0])
        s.feed.script(
            "strategy.toggle",
            accepted("strategy.toggle", strategy={**row, "state": "disabled"}),
            rejected("strategy.toggle", "vwap cannot run: strategies/vwap_reversion.py:57: …"),
        )
        await s.press("S")  # into the Strategies table
        assert s.app.focused is s.app.strategies_pane
        await s.press("t")
        await s.finish()
        assert s.feed.sent("strategy.toggle") == [{"id": "momentum"}]
        assert "momentum stopped" in s.toast_texts()
        await s.press("down", "down", "t")
        await s.finish()
        assert s.feed.sent("strategy.toggle")[-1] == {"id": "vwap"}
        assert any("vwap cannot run" in text for text in s.toast_texts())


async def test_t_without_strategies_says_so_and_sends_nothing() -> None:
    async with session(with_strategies=False) as s:
        await s.press("t")
        await s.finish()
        assert s.feed.sent("strategy.toggle") == []
        assert any("No strategy selected" in text for text in s.toast_texts())


async def test_the_strategies_view_on_a_small_screen() -> None:
    async with session(SMALL) as s:
        assert "Str" in str(s.app.main.view_bar.render())
        await s.press("S")
        assert s.app.main.view == "strategies"
        assert s.app.strategies_pane.region.height > 0
        assert s.app.chart.region.height == 0


async def test_the_backtest_screen_runs_shows_progress_and_opens_the_result() -> None:
    async with session() as s:
        script_backtest_commands(s.feed)
        s.feed.script("backtest.run", accepted("backtest.run", run_id="r1"))
        await s.press("r")
        screen = s.app.screen
        assert isinstance(screen, BacktestScreen)
        await s.finish()
        assert screen.query_one("#bt-strategy", Select).value == "book_imbalance.py"
        assert s.feed.sent("strategy.describe") == [{"file": "book_imbalance.py"}]
        assert screen.query_one("#bt-params", Input).value == "window=40 threshold=0.8"
        assert screen.query_one("#bt-from", Input).value == "2025-11-18"
        assert screen.query_one("#bt-to", Input).value == "2025-11-20"
        assert screen.query_one("#bt-instruments", SelectionList).selected == ["KRW-BTC.SIM"]

        await s.press("ctrl+r")
        await s.finish()
        assert s.feed.sent("backtest.run") == [
            {"strategy": "book_imbalance.py", "instruments": ["KRW-BTC.SIM"],
             "start": "2025-11-18", "end": "2025-11-20",
             "params": {"window": 40, "threshold": 0.8}}
        ]  # fmt: skip
        s.feed.post(progress())  # 1,250,000 of 2,000,000
        await settle(s.pilot)
        bar = screen.query_one("#bt-progress", ProgressBar)
        assert bar.percentage == 0.625
        done = msgspec.structs.replace(
            progress(), state="done", done=2_000_000, result_id=result().id
        )
        s.feed.post(done)
        await s.finish()
        assert bar.percentage == 1.0
        assert s.feed.sent("backtest.result") == [{"id": result().id}]
        metrics = plain(screen.query_one("#bt-metrics", Static).content)
        assert "+1.23%" in metrics and "-0.40%" in metrics and "1.84" in metrics
        assert len(screen.query_one("#bt-equity", Sparkline).data or []) == 72
        trades = screen.query_one("#bt-trades", DataTable)
        assert trades.row_count == 2
        assert "-410,000" in [cell.plain for cell in trades.get_row_at(0)]
        history = screen.query_one("#bt-results", DataTable)
        assert history.row_count == 1
        await s.press("escape")
        assert not isinstance(s.app.screen, BacktestScreen)


async def test_bad_parameters_are_named_and_nothing_is_sent() -> None:
    async with session() as s:
        script_backtest_commands(s.feed)
        await s.press("r")
        await s.finish()
        screen = s.app.screen
        assert isinstance(screen, BacktestScreen)
        screen.query_one("#bt-params", Input).value = "window=40 threshold=high"
        await s.press("ctrl+r")
        await s.finish()
        assert s.feed.sent("backtest.run") == []
        status = str(screen.query_one("#bt-status", Static).render())
        assert "Parameters: threshold: 'high' is not a number" in status


async def test_a_rejected_run_shows_the_engine_reason_and_history_reopens_a_result() -> None:
    async with session() as s:
        script_backtest_commands(s.feed)
        s.feed.script(
            "backtest.run", rejected("backtest.run", "backtest bt3 is still running; wait for it")
        )
        await s.press("r")
        await s.finish()
        screen = s.app.screen
        assert isinstance(screen, BacktestScreen)
        await s.press("ctrl+r")
        await s.finish()
        assert "Not started: backtest bt3 is still running" in str(
            screen.query_one("#bt-status", Static).render()
        )
        await s.press("f3")
        history = screen.query_one("#bt-results", DataTable)
        history.focus()
        await s.press("enter")
        await s.finish()
        assert s.feed.sent("backtest.result") == [{"id": listing().id}]
        assert screen.result is not None and screen.result.id == listing().id


async def test_a_run_that_ends_while_the_screen_is_closed_is_announced_once() -> None:
    async with session() as s:
        s.feed.post(progress())  # running, seen by this console
        await settle(s.pilot)
        done = msgspec.structs.replace(progress(), state="done", result_id="res-1")
        s.feed.post(done)
        s.feed.post(done)
        await settle(s.pilot)
        assert [t for t in s.toast_texts() if "backtest" in t] == ["backtest r1 done: res-1"]


async def test_a_newly_attached_console_does_not_announce_an_old_run() -> None:
    async with session() as s:
        # The retained progress of a run that ended before this console attached.
        s.feed.post(msgspec.structs.replace(progress(), state="done", result_id="res-0"))
        await settle(s.pilot)
        assert [t for t in s.toast_texts() if "backtest" in t] == []


def test_strategies_payload_type() -> None:
    assert isinstance(strategies(), Strategies)
