"""The console driven through Textual's Pilot with a fake feed and a frozen clock."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from rich.text import Text
from textual.command import CommandPalette
from textual.pilot import Pilot

from engine.protocol.payloads import (
    BookSnapshot,
    EngineStats,
    EngineStatus,
    Ticker,
    Tickers,
)
from stom_tui.app import StomApp
from stom_tui.screens.help import HelpScreen
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.market_payloads import (
    ENGINE_ID,
    INSTRUMENT_IDS,
    SNAPSHOT_NOW_NS,
    SNAPSHOT_TS_NS,
    snapshot_payloads,
)

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
        assert app.order_book.book is not None and app.order_book.book.id == "KRW-BTC.SIM"
        assert len(app.chart.ticks) == 120
        assert len(app.chart.bars) == 90
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
        assert app.order_book.instrument_id == "KRW-ETH.SIM"
        assert app.order_book.book is None  # the old instrument's book is not shown
        assert app.chart.instrument_id == "KRW-ETH.SIM" and not app.chart.ticks
        under.feed.post(_book("KRW-BTC.SIM"))  # still in flight for the old selection
        under.feed.post(_book("KRW-ETH.SIM"))
        await settle(pilot)
        assert app.order_book.book is not None and app.order_book.book.id == "KRW-ETH.SIM"
        await pilot.press("down", "down", "up")
        await settle(pilot)
        assert app.selected_instrument == "KRW-XRP.SIM"
        assert under.feed.selected[-1] == "KRW-XRP.SIM"
        # Each change is told to the feed once; repeats would resubscribe for nothing.
        assert all(
            a != b for a, b in zip(under.feed.selected, under.feed.selected[1:], strict=False)
        )


def _ladder_lines(app: StomApp) -> list[str]:
    return app.order_book.render().plain.splitlines()


async def test_ladder_shows_levels_for_its_height_with_best_prices_in_the_middle() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        book_pane = under.app.order_book
        levels = book_pane.levels
        assert levels == (book_pane.content_size.height - 1 - 1) // 2
        assert levels >= 10
        shown = min(levels, 20)
        lines = _ladder_lines(under.app)
        spread_index = next(i for i, line in enumerate(lines) if "spread" in line)
        book = _book("KRW-BTC.SIM")
        asks = [line.split()[0] for line in lines[spread_index - shown : spread_index]]
        bids = [line.split()[0] for line in lines[spread_index + 1 : spread_index + 1 + shown]]
        assert asks[-1] == "143,302,000" == f"{int(book.asks[0][0]):,}"  # best ask nearest
        assert bids[0] == "143,300,000" == f"{int(book.bids[0][0]):,}"  # best bid nearest
        assert asks == sorted(asks, key=lambda p: -int(p.replace(",", "")))
        assert len(asks) == len(bids) == shown
        assert "2 ticks" in lines[spread_index] and "spread 2,000" in lines[spread_index]
        bar_cells = set("▏▎▍▌▋▊▉█")
        assert all(bar_cells & set(line) for line in lines[spread_index - shown : spread_index])
        assert all(bar_cells & set(line) for line in lines[spread_index + 1 :][:shown])


async def test_ladder_fits_at_80x24() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        book_pane = under.app.order_book
        assert book_pane.levels >= 4
        lines = _ladder_lines(under.app)
        assert len(lines) <= book_pane.content_size.height
        assert max(len(line) for line in lines) <= book_pane.content_size.width
        assert under.app.chart.region.width > 0 and under.app.watchlist.region.height >= 8
        assert under.app.status_line.region.height == 1


async def test_small_screen_swaps_chart_and_log_with_one_key() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        app = under.app
        assert app.log_pane.region.area == 0 and app.chart.region.area > 0
        await pilot.press("l")
        await settle(pilot)
        assert app.log_pane.region.area > 0 and app.chart.region.area == 0
        assert app.log_pane.region.width == SMALL[0]  # the whole row: readable lines
        assert app.order_book.region.area == 0
        await pilot.press("l")
        await settle(pilot)
        assert app.log_pane.region.area == 0 and app.chart.region.area > 0
        assert app.order_book.region.area > 0


# --- keys -----------------------------------------------------------------------------------


async def test_help_lists_every_binding_with_its_description() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("question_mark")
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, HelpScreen)
        ids = {entry.binding_id: entry for entry in screen.bindings}
        assert {
            "find_instrument",
            "toggle_log",
            "help",
            "quit",
            "previous_instrument",
            "next_instrument",
        } <= set(ids)
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
        for pane in (app.watchlist, app.order_book, app.chart, app.log_pane):
            assert pane.has_class("-offline")
        assert app.watchlist.row_count == 6
        assert app.order_book.book is not None
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
