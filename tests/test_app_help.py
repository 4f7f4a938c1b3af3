"""Discoverability: help generated from the bindings, the palette's order, the log's keys, the
empty Strategies pane's hint, and numbers and words in the panes (Pilot, fake feed)."""

from __future__ import annotations

import msgspec
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from engine.protocol.payloads import LogEvent
from engine.protocol.trading import Account, BalanceRow, Orders
from stom_tui.app import StomApp
from stom_tui.commands import ConsoleCommands
from stom_tui.screens.help import HelpScreen, binding_classes, iter_bindings
from stom_tui.screens.log_search import LogSearchScreen
from stom_tui.widgets.positions import PositionsPane
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.market_payloads import SNAPSHOT_TS_NS
from tests.fixtures.trading_payloads import order, orders, positions

WIDE = (160, 48)
SMALL = (80, 24)
REMAP = {"kill": "ctrl+k", "ladder_recenter": "x", "log_search": "ctrl+f"}


def _expected_key(app: StomApp, binding: Binding) -> str:
    remapped = REMAP.get(binding.id or "")
    if remapped is not None:
        binding = binding.with_key(remapped, key_display=None)
    return app.get_key_display(binding)


async def _open_help(pilot: Pilot[None]) -> HelpScreen:
    await pilot.press("question_mark")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HelpScreen)
    return screen


async def test_help_lists_every_described_binding_of_every_screen_with_its_current_key() -> None:
    under = make_app(keymap=REMAP)
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        screen = await _open_help(pilot)
        rows = {
            (entry.binding_id, key.strip())
            for section in screen.shown
            for entry in section.keys
            for key in entry.keys.split(",")
        }
        classes = binding_classes()
        names = {cls.__name__ for cls in classes}
        # The screens and panes the issue names are among the classes collected.
        for name in ("StomApp", "MainScreen", "PriceLadder", "OrderTicket", "LogPane",
                     "BacktestScreen", "OptimizeScreen", "QuitScreen", "HelpScreen"):  # fmt: skip
            assert name in names, name
        checked = 0
        for cls, binding in iter_bindings(classes):
            ident = binding.id or ""
            assert (ident, _expected_key(under.app, binding)) in rows, (cls.__name__, ident)
            checked += 1
        assert checked > 60
        text = screen.text
        assert "ladder_buy" in text and "ticket_market" in text and "quit_detach" in text
        lines = text.splitlines()
        # Remapped keys are shown as remapped.
        assert any(line.startswith("^k\t") and line.endswith("\tkill") for line in lines)
        assert any(line.startswith("x\t") and line.endswith("\tladder_recenter") for line in lines)
        assert "Reset the kill switch" in text  # palette only: listed with the palette
        assert text.startswith("Back to the Market view: esc or m")


async def test_help_fits_80x24_and_scrolls_from_the_keyboard() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        screen = await _open_help(pilot)
        panel = screen.query_one("#help-panel")
        assert panel.scroll_y == 0
        await pilot.press("pagedown")
        await settle(pilot)
        assert panel.scroll_y > 0
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(under.app.screen, HelpScreen)


async def test_palette_lists_stom_commands_before_textual_ones() -> None:
    under = make_app()
    # The palette's one provider (StomApp.COMMANDS = {ConsoleCommands}; set here too while the
    # app still lists several providers, whose hits would interleave at random).
    under.app.COMMANDS = {ConsoleCommands}
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("slash")
        await settle(pilot)
        palette = under.app.screen
        assert isinstance(palette, CommandPalette)
        command_list = palette.query_one(CommandList)

        def prompts() -> list[str]:
            return [
                str(command_list.get_option_at_index(i).prompt).split("\n")[0]
                for i in range(command_list.option_count)
            ]

        for _ in range(40):
            titles = prompts()
            if any(title.startswith("Theme") for title in titles):
                break
            await pilot.pause(0.05)
        titles = prompts()
        assert titles[0] == "Buy KRW-BTC.SIM…"
        textual = [titles.index(name) for name in ("Theme", "Keys", "Quit") if name in titles]
        stom = [
            titles.index(title)
            for title in titles
            if title.startswith(("Reset the kill switch", "Show the orders", "KRW-BTC.SIM"))
        ]
        assert textual and len(stom) == 3
        assert max(stom) < min(textual), titles


async def test_log_scrolls_and_searches_from_the_keyboard() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        for index in range(120):
            word = "needle" if index in (10, 60) else "hay"
            event = LogEvent(
                ts=SNAPSHOT_TS_NS,
                seq=index + 1,
                level="info",
                source="test",
                message=f"line {index} {word}",
            )
            under.feed.post(event)
        await settle(pilot)
        await pilot.press("l")  # the log view
        await settle(pilot)
        log = app.main.log_pane
        log.focus()
        await settle(pilot)
        await pilot.pause(0.1)
        bottom = log.scroll_y
        assert bottom > 0
        await pilot.press("pageup")
        await settle(pilot)
        assert log.scroll_y < bottom
        await pilot.press("home")
        await settle(pilot)
        assert log.scroll_y == 0
        await pilot.press("end")
        await settle(pilot)
        assert log.scroll_y == log.max_scroll_y

        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, LogSearchScreen)
        await pilot.press(*"needle", "enter")
        await settle(pilot)
        assert log.match_line is not None
        assert "line 60 needle" in log.lines[log.match_line].text
        newest_match = log.match_line
        await pilot.press("n")  # older
        await settle(pilot)
        assert log.match_line is not None and log.match_line < newest_match
        assert "line 10 needle" in log.lines[log.match_line].text
        visible = range(int(log.scroll_y), int(log.scroll_y) + log.scrollable_content_region.height)
        assert log.match_line in visible
        await pilot.press("N")  # newer
        await settle(pilot)
        assert log.match_line == newest_match
        await pilot.press("escape")  # ends the search, follows again
        await settle(pilot)
        assert log.match_line is None and log.auto_scroll


async def test_empty_strategies_pane_says_where_strategies_live_and_how_to_start_one() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        pane = under.app.main.strategies_pane
        hint = "\n".join(pane.hint)
        assert "strategies/" in hint and "[[strategies.enabled]]" in hint
        assert "press t to start" in hint and "when it next starts" in hint
        under.app.main.show_view("strategies")
        await settle(pilot)
        assert pane.render_line(0).text.startswith("No strategies")


async def test_numbers_and_words_in_orders_and_positions() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        cancelled = order(
            "tui-cancelled-on-venue", status="canceled", reason="canceled on the venue"
        )
        snapshot = orders()
        under.feed.post(Orders(ts=snapshot.ts, orders=[*snapshot.orders, cancelled]))
        account = Account(
            ts=SNAPSHOT_TS_NS,
            mode="paper",
            balances=[
                BalanceRow(currency="KRW", free="9412350.25", locked="0"),
                BalanceRow(currency="BTC", free="0.001", locked="0"),
                BalanceRow(currency="USDT", free="12.5", locked="0"),
            ],
        )
        under.feed.post(positions(), account)
        await settle(pilot)
        main = under.app.main
        subtitle = str(main.positions_pane.border_subtitle)
        assert "BTC 0.001" in subtitle and "KRW 9,412,350 " in subtitle + " "
        assert "USDT 12.50" in subtitle
        rows = len(main.positions_pane.positions)
        assert main.positions_pane.border_title == "Positions · 3 open · 1 closed"
        assert rows == 4  # every row counted
        labels = [column.label for column in PositionsPane.COLUMNS]
        assert "Mid" in labels and "Last" not in labels
        orders_pane = main.orders_pane
        open_count = orders_pane.open_count
        closed = len(orders_pane.orders) - open_count
        assert orders_pane.border_title == f"Orders · {open_count} open · {closed} closed"
        assert orders_pane.cell_text("tui-cancelled-on-venue", "status") == "cancelled"
        reason = orders_pane.cell_text("tui-cancelled-on-venue", "reason")
        assert reason == "cancelled on the venue"
        assert "canceled" not in reason


async def test_a_newly_attached_console_does_not_announce_an_old_finished_backtest() -> None:
    from tests.fixtures.strategy_payloads import progress

    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        done = msgspec.structs.replace(progress(), state="done", result_id="bt-old")
        under.feed.post(done)  # the retained progress, received first on attach
        await settle(pilot)
        texts = [n.message for n in under.app._notifications]
        assert not any("backtest" in text for text in texts), texts
        # A run finishing while this console watches is announced.
        running = msgspec.structs.replace(progress(), run_id="bt-new", state="running")
        finished = msgspec.structs.replace(running, state="done", result_id="bt-new-result")
        under.feed.post(running, finished)
        await settle(pilot)
        texts = [n.message for n in under.app._notifications]
        assert any("bt-new" in text and "done" in text for text in texts), texts
