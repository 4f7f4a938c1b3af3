"""The console driven through Textual's Pilot with a fake feed and a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot

from engine.protocol.payloads import (
    BarRow,
    BookSnapshot,
    EngineStats,
    EngineStatus,
    Reply,
    Ticker,
    Tickers,
    TradeRow,
)
from stom_tui.app import StomApp
from stom_tui.keys import APP_BINDINGS, MAIN_BINDINGS
from stom_tui.screens.backtest import BacktestScreen
from stom_tui.screens.confirm import ConfirmScreen
from stom_tui.screens.help import HelpScreen
from stom_tui.screens.optimize import OptimizeScreen
from stom_tui.screens.order_ticket import OrderTicket
from stom_tui.widgets import PriceLadder, WatchlistPane
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.fake_feed import FakeFeed, accepted
from tests.fixtures.market_payloads import (
    ENGINE_ID,
    INSTRUMENT_IDS,
    SNAPSHOT_NOW_NS,
    SNAPSHOT_TS_NS,
    snapshot_payloads,
)
from tests.fixtures.trading_payloads import trading_payloads

NS = 1_000_000_000
WIDE = (160, 48)
SMALL = (80, 24)


def _tickers() -> Tickers:
    return next(p for p in snapshot_payloads() if isinstance(p, Tickers))


def _book(instrument_id: str) -> BookSnapshot:
    return next(
        p for p in snapshot_payloads() if isinstance(p, BookSnapshot) and p.id == instrument_id
    )


def _stats(ts: int) -> EngineStats:
    return EngineStats(
        engine_id=ENGINE_ID,
        ts=ts,
        uptime_s=10.0,
        ticks_total=100,
        ticks_per_s=400.0,
        last_tick_ns=ts,
        bus_messages_out=10,
        bus_events_dropped=0,
        rss_bytes=1,
        instruments=6,
    )


def _cell(app: StomApp, row: str, column: str) -> str:
    value = app.watchlist.get_cell(row, column)
    return value.plain if isinstance(value, Text) else str(value)


def _status_text(app: StomApp) -> str:
    return app.status_line.render().plain


async def _wait_until(pilot: Pilot[None], condition: Callable[[], bool], tries: int = 60) -> None:
    """For timer-driven changes: poll in short pauses (bounded), never a blind sleep."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


# --- market data ----------------------------------------------------------------------------


async def test_first_instrument_is_selected_and_every_pane_follows_it() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        assert app.watchlist.instrument_ids == list(INSTRUMENT_IDS)
        assert app.selected_instrument == "KRW-BTC.SIM"
        assert under.feed.selected == ["KRW-BTC.SIM"]
        assert app.trading.book is not None and app.trading.book.id == "KRW-BTC.SIM"
        for pane in (app.ladder, app.chart, app.tape):
            assert pane.instrument_id == "KRW-BTC.SIM"
        assert Decimal("143300000") in app.ladder.visible_prices  # the best bid, on the grid
        # The history was asked for at once (the fake engine does not answer it).
        assert under.feed.sent("md.history")[0]["instrument"] == "KRW-BTC.SIM"
        assert _cell(app, "KRW-BTC.SIM", "last") == "143,300,000"
        assert _cell(app, "KRW-BTC.SIM", "change") == "+1.84%"


async def test_tickers_update_cells_in_place_with_stable_row_keys() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        table = under.app.watchlist
        keys_before = [row.key for row in table.ordered_rows]
        calls: dict[str, int] = {"update_cell": 0, "clear": 0, "add_row": 0}
        for name in calls:
            original = getattr(table, name)

            def counted(*args: object, _name: str = name, _original=original, **kw: object):
                calls[_name] += 1
                return _original(*args, **kw)

            setattr(table, name, counted)

        tickers = _tickers()
        btc = tickers.tickers[0]
        moved = msgspec.structs.replace(btc, last="143301000", ts_event=btc.ts_event + 1)
        under.feed.post(msgspec.structs.replace(tickers, tickers=[moved, *tickers.tickers[1:]]))
        await settle(pilot)

        assert [row.key for row in table.ordered_rows] == keys_before
        assert calls == {"update_cell": 1, "clear": 0, "add_row": 0}
        assert _cell(under.app, "KRW-BTC.SIM", "last") == "143,301,000"
        assert under.app.metrics.handled["TickersUpdated"] == 2


async def test_arrow_keys_move_the_selection_and_the_feed_follows() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        await pilot.press("down")
        await settle(pilot)
        assert app.selected_instrument == "KRW-ETH.SIM"
        assert under.feed.selected[-1] == "KRW-ETH.SIM"
        assert under.feed.sent("md.history")[-1]["instrument"] == "KRW-ETH.SIM"
        assert app.ladder.instrument_id == app.tape.instrument_id == "KRW-ETH.SIM"
        assert app.chart.instrument_id == "KRW-ETH.SIM"
        under.feed.post(_book("KRW-BTC.SIM"))  # still in flight for the old selection
        under.feed.post(_book("KRW-ETH.SIM"))
        await settle(pilot)
        assert app.trading.book is not None and app.trading.book.id == "KRW-ETH.SIM"
        await pilot.press("down", "down", "up")
        await settle(pilot)
        assert app.selected_instrument == "KRW-XRP.SIM"
        assert under.feed.selected[-1] == "KRW-XRP.SIM"
        # Each change is told to the feed once; repeats would resubscribe for nothing.
        assert all(
            a != b for a, b in zip(under.feed.selected, under.feed.selected[1:], strict=False)
        )


def _history_reply(instrument_id: str) -> Reply:
    trades = [
        TradeRow(SNAPSHOT_TS_NS - (30 - i) * NS, str(143_290_000 + i * 1000), "0.01", "buy")
        for i in range(30)
    ]
    bar = BarRow(SNAPSHOT_TS_NS - 60 * NS, "143290000", "143320000", "143280000", "143300000",
                 "1.5", 42)  # fmt: skip
    return accepted(
        "md.history",
        instrument=instrument_id,
        ts=SNAPSHOT_TS_NS,
        trades=msgspec.to_builtins(trades),
        bars={"1m": msgspec.to_builtins([bar])},
    )


async def test_history_fills_chart_and_tape_on_selection() -> None:
    under = make_app()
    under.feed.script("md.history", lambda args: _history_reply(args["instrument"]))
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        await _wait_until(pilot, lambda: "143319000" in {row.price for row in app.tape.tape})
        assert app.chart.history("KRW-BTC.SIM") is not None
        await pilot.press("down")
        await settle(pilot)
        assert [args["instrument"] for args in under.feed.sent("md.history")][-1] == "KRW-ETH.SIM"


async def test_market_view_keeps_ladder_chart_and_tape_at_80x24() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        for pane in (app.watchlist, app.ladder, app.chart, app.tape):
            assert pane.region.area > 0, pane
        assert len(app.ladder.visible_prices) >= 10
        assert app.watchlist.region.height >= 8
        assert app.status_line.region.height == 1


async def test_views_take_the_charts_place_and_the_ladder_stays_at_80x24() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        for key, pane in (("l", app.log_pane), ("O", app.orders_pane), ("p", app.positions_pane)):
            await pilot.press(key)
            await settle(pilot)
            # The view runs across the whole width below the ladder, in the chart and tape's
            # place; the ladder keeps its column with its levels around the touch.
            assert pane.region.width == SMALL[0] and pane.region.height >= 8
            assert app.chart.region.area == 0 and app.tape.region.area == 0
            assert app.ladder.region.x == 0 and len(app.ladder.visible_prices) >= 6
            assert pane.region.y >= app.ladder.region.bottom
            assert app.status_line.region.height == 1
        await pilot.press("m")
        await settle(pilot)
        assert app.chart.region.area > 0 and app.log_pane.region.area == 0
        assert app.tape.region.area > 0


async def test_toasts_stay_off_the_status_line_and_the_key_bar() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL, notifications=True) as pilot:
        await load_market(pilot, under.feed)
        under.app.notify("a long toast that must not hide the status line or the keys")
        await _wait_until(pilot, lambda: bool(under.app.screen.query("Toast")))
        toast = under.app.screen.query_one("Toast")
        assert toast.region.area > 0
        status = under.app.status_line.region
        assert toast.region.bottom <= status.y
        assert toast.region.y < under.app.size.height // 2  # near the top


# --- keys: every binding of the main screen ---------------------------------------------------


@dataclass
class Keys:
    """A running app on the snapshot market and trading state, with its toasts."""

    pilot: Pilot[None]
    app: StomApp
    feed: FakeFeed
    toasts: list[str]

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)
            await settle(self.pilot)

    async def commands(self) -> None:
        """Let the command workers (never the feed's) finish."""
        await self.pilot.pause()
        workers = [w for w in self.app.workers if w.group == "trading"]
        if workers:
            await self.app.workers.wait_for_complete(workers)
        await settle(self.pilot)


@asynccontextmanager
async def running(size: tuple[int, int] = WIDE) -> AsyncIterator[Keys]:
    under = make_app()
    toasts: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            toasts.append(message.notification.message)

    async with under.app.run_test(size=size, message_hook=hook) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post_all(trading_payloads())
        await settle(pilot)
        yield Keys(pilot, under.app, under.feed, toasts)


async def _check_buy(k: Keys) -> None:
    await k.press("b")
    assert isinstance(k.app.screen, OrderTicket) and k.app.screen.side == "buy"


async def _check_sell(k: Keys) -> None:
    await k.press("s")
    assert isinstance(k.app.screen, OrderTicket) and k.app.screen.side == "sell"


async def _check_cancel_order(k: Keys) -> None:
    k.feed.script("order.cancel", accepted("order.cancel"))
    await k.press("c")
    await k.commands()
    assert k.feed.sent("order.cancel") == [{"client_order_id": OPEN_BUY}]


async def _check_cancel_all(k: Keys) -> None:
    k.feed.script("order.cancel_all", accepted("order.cancel_all", canceled=[OPEN_BUY]))
    await k.press("X")
    assert isinstance(k.app.screen, ConfirmScreen) and k.app.screen.id == "confirm-cancel-all"
    await k.press("enter")
    await k.commands()
    assert k.feed.sent("order.cancel_all") == [{}]


async def _check_kill(k: Keys) -> None:
    await k.press("K")
    assert isinstance(k.app.screen, ConfirmScreen) and k.app.screen.id == "confirm-kill"


async def _check_focus_ladder(k: Keys) -> None:
    await k.press("L")
    assert k.app.focused is k.app.ladder


async def _check_back(k: Keys) -> None:
    await k.press("L", "O", "escape")
    assert k.app.main.view == "market" and k.app.focused is k.app.watchlist


async def _check_show_market(k: Keys) -> None:
    await k.press("l", "m")
    assert k.app.main.view == "market"


async def _check_show_orders(k: Keys) -> None:
    await k.press("O")
    assert k.app.main.view == "orders" and k.app.focused is k.app.orders_pane


async def _check_show_positions(k: Keys) -> None:
    await k.press("p")
    assert k.app.main.view == "positions" and k.app.focused is k.app.positions_pane


async def _check_show_strategies(k: Keys) -> None:
    await k.press("S")
    assert k.app.main.view == "strategies"
    assert k.app.strategies_pane.region.area > 0 and k.app.ladder.region.area > 0


async def _check_toggle_log(k: Keys) -> None:
    await k.press("l")
    assert k.app.main.view == "log" and k.app.log_pane.region.area > 0
    await k.press("l")
    assert k.app.main.view == "market"


async def _check_chart_timeframe(k: Keys) -> None:
    before = k.app.chart.timeframe
    await k.press("T")
    assert k.app.chart.timeframe != before


async def _check_toggle_strategy(k: Keys) -> None:
    await k.press("t")
    assert any("No strategy selected" in text for text in k.toasts)


async def _check_backtest(k: Keys) -> None:
    await k.press("r")
    assert isinstance(k.app.screen, BacktestScreen)


async def _check_optimize(k: Keys) -> None:
    await k.press("o")
    assert isinstance(k.app.screen, OptimizeScreen)


async def _check_arm(k: Keys) -> None:
    # The simulator is paper only: arming says there is no live venue to arm (or asks).
    screens = len(k.app.screen_stack)
    await k.press("a")
    await k.pilot.pause(0.1)
    assert k.toasts or len(k.app.screen_stack) > screens


async def _check_find_instrument(k: Keys) -> None:
    await k.press("slash")
    await _wait_until(k.pilot, lambda: CommandPalette.is_open(k.app))


async def _check_help(k: Keys) -> None:
    await k.press("question_mark")
    assert isinstance(k.app.screen, HelpScreen)


async def _check_quit(k: Keys) -> None:
    await k.press("q")
    await k.pilot.pause(0.2)
    # Nothing of this console's own is running (the fake engine is not its child): it exits.
    assert not k.app.is_running or k.app.return_code == 0


async def _check_next_instrument(k: Keys) -> None:
    await k.press("down")
    assert k.app.selected_instrument == "KRW-ETH.SIM"


async def _check_previous_instrument(k: Keys) -> None:
    await k.press("down", "down", "up")
    assert k.app.selected_instrument == "KRW-ETH.SIM"


BINDING_CHECKS: dict[str, Callable[[Keys], Awaitable[None]]] = {
    "buy": _check_buy,
    "sell": _check_sell,
    "cancel_order": _check_cancel_order,
    "cancel_all": _check_cancel_all,
    "kill": _check_kill,
    "focus_ladder": _check_focus_ladder,
    "back": _check_back,
    "show_market": _check_show_market,
    "show_orders": _check_show_orders,
    "show_positions": _check_show_positions,
    "show_strategies": _check_show_strategies,
    "toggle_log": _check_toggle_log,
    "chart_timeframe": _check_chart_timeframe,
    "toggle_strategy": _check_toggle_strategy,
    "backtest": _check_backtest,
    "optimize": _check_optimize,
    "arm": _check_arm,
    "find_instrument": _check_find_instrument,
    "help": _check_help,
    "quit": _check_quit,
    "next_instrument": _check_next_instrument,
    "previous_instrument": _check_previous_instrument,
}


def _binding_ids(bindings: list[BindingType]) -> set[str]:
    return {b.id for b in bindings if isinstance(b, Binding) and b.id}


def test_every_binding_of_the_main_screen_has_a_pilot_test() -> None:
    ids = (
        _binding_ids(APP_BINDINGS)
        | _binding_ids(MAIN_BINDINGS)
        | _binding_ids(list(WatchlistPane.BINDINGS))
    )
    assert ids == set(BINDING_CHECKS)
    ladder_ids = _binding_ids(list(PriceLadder.BINDINGS))
    assert ladder_ids <= set(LADDER_CHECKS), ladder_ids - set(LADDER_CHECKS)


@pytest.mark.parametrize("binding_id", sorted(BINDING_CHECKS))
async def test_binding(binding_id: str) -> None:
    async with running() as k:
        await BINDING_CHECKS[binding_id](k)


# --- keys: the ladder's, as the app handles them ----------------------------------------------

OPEN_BUY = "tui-7c1e0a9b2f4d6e81a3c5"
PARTIAL_SELL = "tui-52d9e4b0c17a38f6d2e0"
TICK = Decimal(1000)


async def _ladder(k: Keys) -> PriceLadder:
    k.feed.script("order.submit", lambda args: accepted("order.submit"))
    k.feed.script("order.cancel", accepted("order.cancel"))
    await k.press("L")
    ladder = k.app.ladder
    assert ladder.cursor_price is not None
    return ladder


async def _confirm_and_send(k: Keys) -> dict[str, Any]:
    assert isinstance(k.app.screen, ConfirmScreen) and k.app.screen.id == "confirm-ladder-order"
    await k.press("enter")
    await k.commands()
    sent = k.feed.sent("order.submit")
    assert len(sent) == 1
    return sent[0]


async def _check_ladder_moves(k: Keys) -> None:
    ladder = await _ladder(k)
    start = ladder.cursor_price
    assert start is not None
    await k.press("up")
    assert ladder.cursor_price == start + TICK
    await k.press("down", "down")
    assert ladder.cursor_price == start - TICK
    await k.press("pageup")
    assert ladder.cursor_price == start + 9 * TICK
    await k.press("pagedown", "pagedown")
    assert ladder.cursor_price == start - 11 * TICK
    await k.press("z")
    assert ladder.cursor_price is not None and abs(ladder.cursor_price - start) <= 2 * TICK
    assert k.app.selected_instrument == "KRW-BTC.SIM"  # the arrows moved the ladder only


async def _check_ladder_buy(k: Keys) -> None:
    ladder = await _ladder(k)
    await k.press("down")
    price = ladder.cursor_price
    await k.press("b")
    args = await _confirm_and_send(k)
    # 1,000,000 KRW ([app] ladder_size) at the price, rounded down to the lot.
    assert args["side"] == "buy" and args["type"] == "limit" and args["tif"] == "gtc"
    assert Decimal(args["price"]) == price
    assert Decimal(args["quantity"]) * price <= 1_000_000
    assert args["instrument"] == "KRW-BTC.SIM" and args["client_order_id"].startswith("tui-")


async def _check_ladder_sell(k: Keys) -> None:
    ladder = await _ladder(k)
    await k.press("up", "up", "up", "up")
    price = ladder.cursor_price
    await k.press("s")
    args = await _confirm_and_send(k)
    assert args["side"] == "sell" and Decimal(args["price"]) == price


async def _check_ladder_cancel(k: Keys) -> None:
    ladder = await _ladder(k)
    target = Decimal("143320000")  # the partly filled own sell
    current = ladder.cursor_price
    assert current is not None
    steps = int((target - current) / TICK)
    await k.press(*(["up"] * steps if steps > 0 else ["down"] * -steps))
    assert ladder.cursor_price == target
    await k.press("c")
    await k.commands()
    assert k.feed.sent("order.cancel") == [{"client_order_id": PARTIAL_SELL}]


async def _check_ladder_join(k: Keys) -> None:
    await _ladder(k)
    await k.press("left_square_bracket")
    bid = await _confirm_and_send(k)
    assert (bid["side"], bid["price"], bid["tif"]) == ("buy", BTC_BID, "gtc")
    k.feed.requests.clear()
    await k.press("right_square_bracket")
    ask = await _confirm_and_send(k)
    assert (ask["side"], ask["price"], ask["tif"]) == ("sell", BTC_ASK, "gtc")


async def _check_ladder_cross(k: Keys) -> None:
    await _ladder(k)
    await k.press("left_curly_bracket")
    buy = await _confirm_and_send(k)
    assert (buy["side"], buy["price"], buy["tif"]) == ("buy", BTC_ASK, "ioc")
    k.feed.requests.clear()
    await k.press("right_curly_bracket")
    sell = await _confirm_and_send(k)
    assert (sell["side"], sell["price"], sell["tif"]) == ("sell", BTC_BID, "ioc")


BTC_BID = "143300000"
BTC_ASK = "143302000"

LADDER_CHECKS: dict[str, Callable[[Keys], Awaitable[None]]] = {
    "ladder_up": _check_ladder_moves,
    "ladder_down": _check_ladder_moves,
    "ladder_page_up": _check_ladder_moves,
    "ladder_page_down": _check_ladder_moves,
    "ladder_recenter": _check_ladder_moves,
    "ladder_buy": _check_ladder_buy,
    "ladder_sell": _check_ladder_sell,
    "ladder_cancel": _check_ladder_cancel,
    "ladder_join_bid": _check_ladder_join,
    "ladder_join_ask": _check_ladder_join,
    "ladder_cross_buy": _check_ladder_cross,
    "ladder_cross_sell": _check_ladder_cross,
}


@pytest.mark.parametrize("check", sorted(set(LADDER_CHECKS.values()), key=lambda f: f.__name__))
async def test_ladder_binding(check: Callable[[Keys], Awaitable[None]]) -> None:
    async with running() as k:
        await check(k)


async def test_ladder_order_without_confirm_when_settings_say_so() -> None:
    under = make_app()
    under.app.settings = msgspec.structs.replace(
        under.app.settings,
        app=msgspec.structs.replace(under.app.settings.app, confirm_ladder_orders=False),
    )
    under.feed.script("order.submit", accepted("order.submit"))
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("L", "b")
        await settle(pilot)
        assert not isinstance(under.app.screen, ConfirmScreen)
        await _wait_until(pilot, lambda: bool(under.feed.sent("order.submit")))


async def test_help_lists_every_binding_with_its_description() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("question_mark")
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, HelpScreen)
        ids = {entry.binding_id: entry for entry in screen.bindings}
        expected = _binding_ids(APP_BINDINGS) | _binding_ids(MAIN_BINDINGS)
        assert expected | {"previous_instrument", "next_instrument"} <= set(ids)
        assert all(entry.description and entry.keys for entry in ids.values())
        assert ids["quit"].keys == "q"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(under.app.screen, HelpScreen)


async def test_q_quits_and_the_feed_is_stopped() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("q")
        await settle(pilot)
    assert under.app.return_code == 0
    assert under.feed.stopped


async def test_palette_finds_an_instrument_by_fuzzy_text_and_selects_it() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("slash")
        await _wait_until(pilot, lambda: CommandPalette.is_open(under.app))
        await pilot.press(*"smsng")
        palette = under.app.screen
        assert isinstance(palette, CommandPalette)

        def found() -> bool:
            option_list = palette.query_one("CommandList")
            return option_list.option_count > 0 and "005930" in str(  # type: ignore[attr-defined]
                option_list.get_option_at_index(0).prompt  # type: ignore[attr-defined]
            )

        await _wait_until(pilot, found)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert not CommandPalette.is_open(under.app)
        assert under.app.selected_instrument == "005930.SIM"
        assert under.app.watchlist.selected_id == "005930.SIM"
        assert under.feed.selected[-1] == "005930.SIM"


async def test_keymap_from_settings_remaps_bindings() -> None:
    under = make_app(keymap={"quit": "x", "next_instrument": "j", "previous_instrument": "k"})
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("j")
        await settle(pilot)
        assert under.app.selected_instrument == "KRW-ETH.SIM"
        await pilot.press("k")
        await settle(pilot)
        assert under.app.selected_instrument == "KRW-BTC.SIM"
        help_keys = {entry.binding_id: entry.keys for entry in under.app.key_help()}
        assert help_keys["quit"] == "x"
        await pilot.press("q")
        await settle(pilot)
        assert under.app.is_running
        await pilot.press("x")
        await settle(pilot)
    assert under.app.return_code == 0


# --- engine presence ------------------------------------------------------------------------


async def test_offline_status_dims_panes_and_keeps_their_data() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        assert _status_text(app).startswith(" RUNNING ")
        under.feed.post(
            EngineStatus(state="offline", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS, reason="died")
        )
        await settle(pilot)
        assert app.status_line.has_class("-offline")
        assert _status_text(app).startswith(" OFFLINE  died")
        for pane in (app.watchlist, app.ladder, app.chart, app.tape, app.log_pane):
            assert pane.has_class("-offline")
        assert app.watchlist.row_count == 6
        assert app.trading.book is not None and app.ladder.visible_prices
        assert _cell(app, "KRW-BTC.SIM", "last") == "143,300,000"


async def test_missing_heartbeat_flips_to_offline_then_recovers() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        assert not app.status_line.has_class("-offline")
        keepalive_ns = app.settings.bus.keepalive_s * NS
        under.clock.advance(keepalive_ns + 1)
        # Nothing is posted: the health timer alone must notice.
        await _wait_until(pilot, lambda: app.status_line.has_class("-offline"))
        assert "no heartbeat" in _status_text(app)
        assert app.watchlist.has_class("-offline")
        assert app.status_line.has_class("-stale")

        under.feed.post(EngineStatus(state="running", engine_id="sim-new", ts=under.clock.now_ns()))
        under.feed.post(_stats(under.clock.now_ns()))
        await settle(pilot)
        assert not app.status_line.has_class("-offline")
        assert not app.watchlist.has_class("-offline")
        assert _status_text(app).startswith(" RUNNING ")
        assert "sim-new" in _status_text(app)


async def test_tick_age_and_stale_flag_follow_the_clock() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        assert "tick 0.1s" in _status_text(app)
        assert not app.status_line.has_class("-stale")
        under.clock.advance(2 * NS)
        under.feed.post(_stats(under.clock.now_ns()))  # heartbeat fresh, data old
        await settle(pilot)
        assert app.status_line.has_class("-stale")
        assert "tick 2.1s stale" in _status_text(app)
        assert not app.status_line.has_class("-offline")


async def test_feed_disconnect_shows_in_the_status_line_and_log() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.disconnect("connection refused")
        await settle(pilot)
        assert under.app.status_line.has_class("-disconnected")
        assert "feed disconnected" in _status_text(under.app)
        log_text = "\n".join(line.text for line in under.app.log_pane.lines)
        assert "connection refused" in log_text


async def test_malformed_payload_is_counted_and_logged_not_fatal() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post_malformed("stom/default/md/tickers", "malformed JSON: truncated")
        await settle(pilot)
        assert under.app.metrics.malformed == 1
        log_text = "\n".join(line.text for line in under.app.log_pane.lines)
        assert "malformed payload on stom/default/md/tickers" in log_text
        assert under.app.is_running


async def test_metrics_measure_tick_to_screen_latency() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        metrics = under.app.metrics
        # One ticker snapshot and one book of the selected instrument, both stamped at
        # SNAPSHOT_TS_NS, handled at the frozen SNAPSHOT_NOW_NS.
        assert list(metrics.latencies_ns) == [SNAPSHOT_NOW_NS - SNAPSHOT_TS_NS] * 2
        assert metrics.first_live_frame_ns == SNAPSHOT_NOW_NS
        assert metrics.handled["BookUpdated"] == 6
        assert metrics.handled["LogReceived"] == 6


async def test_tickers_before_instruments_still_fill_the_watchlist() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await under.feed.running.wait()
        tickers = _tickers()
        under.feed.post(tickers)
        await settle(pilot)
        assert under.app.watchlist.row_count == 6
        assert under.app.selected_instrument == "KRW-BTC.SIM"
        extra = Ticker(
            id="KRW-SOL.SIM", last=None, prev_close=None, change_pct=None, volume="0",
            turnover="0", trades=0, bid=None, bid_size=None, ask=None, ask_size=None,
            spread=None, ts_event=SNAPSHOT_TS_NS, ts_trade=None,
        )  # fmt: skip
        under.feed.post(msgspec.structs.replace(tickers, tickers=[*tickers.tickers, extra]))
        await settle(pilot)
        assert under.app.watchlist.row_count == 7
        assert _cell(under.app, "KRW-SOL.SIM", "last") == "–"
