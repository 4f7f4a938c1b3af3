"""The console under a burst of market data: one message per topic waits, keys answer at once.

At the simulator's full rate the console lagged (12 of 28 keys shown within 200 ms) and grew
(102 -> 209 MB in five minutes): every payload the feed received became a message in the app's
queue, and while a frame was slow the queue filled with stale snapshots that the keys waited
behind (issue 12, finding 9). The feed now folds a payload into the message already waiting for
its topic (stom_tui/conflation.py), so the queue holds at most one per topic, however long the
app was busy. These tests drive the real :class:`MqttFeed` dispatch with encoded payloads, as
its receive loop does with a backlog, into the real app.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import msgspec
from textual.widgets._footer import FooterKey

from engine.config.settings import Settings
from engine.protocol.codec import encode
from engine.protocol.payloads import (
    BarHistory,
    BookSnapshot,
    EngineStats,
    Instruments,
    Payload,
    Tickers,
    Trades,
)
from stom_tui.app import StomApp
from stom_tui.chart_series import MAX_TICKS
from stom_tui.feed import MqttFeed
from stom_tui.widgets.render_caches import CELLS, ROWS
from stom_tui.widgets.time_and_sales import TAPE_ROWS
from tests.fixtures.app_factory import settle
from tests.fixtures.market_payloads import snapshot_payloads
from tests.support.brokers import free_port

BURST = 2_000


def topic_of(feed: MqttFeed, payload: Payload) -> str | None:
    topics = feed.topics
    if isinstance(payload, Tickers):
        return topics.tickers
    if isinstance(payload, Instruments):
        return topics.instruments
    if isinstance(payload, EngineStats):
        return topics.stats
    if isinstance(payload, BookSnapshot):
        return topics.book(payload.id)
    if isinstance(payload, Trades):
        return topics.trades(payload.id)
    if isinstance(payload, BarHistory):
        return topics.bars("1m", payload.id)
    return None


def deliver(app: StomApp, feed: MqttFeed, payload: Payload) -> None:
    topic = topic_of(feed, payload)
    assert topic is not None
    feed._dispatch(app, topic, encode(payload))


def offline_app() -> tuple[StomApp, MqttFeed]:
    """The console on a feed whose broker is not there (nothing listens on the port): the feed
    retries in the background and the test dispatches payloads itself."""
    settings = Settings()
    feed = MqttFeed(settings, host="127.0.0.1", port=free_port())
    return StomApp(settings, feed, broker_label="test"), feed


def deliver_market(app: StomApp, feed: MqttFeed) -> list[Payload]:
    """Every market payload of the protocol samples, delivered; returns them."""
    market = [p for p in snapshot_payloads() if topic_of(feed, p) is not None]
    for payload in market:
        deliver(app, feed, payload)
    return market


async def test_a_burst_waits_as_one_message_per_topic_and_a_key_answers_at_once() -> None:
    app, feed = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        market = deliver_market(app, feed)
        await settle(pilot)
        selected = app.selected_instrument
        assert selected is not None
        tickers = next(p for p in market if isinstance(p, Tickers))
        book = next(p for p in market if isinstance(p, BookSnapshot) and p.id == selected)
        trades = next(p for p in market if isinstance(p, Trades) and p.id == selected)
        stats = next(p for p in market if isinstance(p, EngineStats))
        handled_before = sum(app.metrics.handled.values())
        # A backlog, as the receive loop hands it over after the app was busy: no await.
        for n in range(BURST):
            deliver(app, feed, msgspec.structs.replace(tickers, ts=tickers.ts + n))
            deliver(app, feed, msgspec.structs.replace(book, ts_event=book.ts_event + n))
            deliver(app, feed, trades)
            deliver(app, feed, msgspec.structs.replace(stats, ts=stats.ts + n, ticks_total=n))
        waiting: int = app._message_queue.qsize()
        assert waiting <= 50, f"{waiting} messages queued for {4 * BURST} payloads"
        assert app.conflator.conflated >= 4 * BURST - 50
        began = time.perf_counter()
        await pilot.press("down")
        assert time.perf_counter() - began < 2.0
        await settle(pilot)
        assert app.selected_instrument != selected
        # What shows is the newest of each, and the trades kept are the newest ones.
        assert app.presence.stats is not None and app.presence.stats.ticks_total == BURST - 1
        assert sum(app.metrics.handled.values()) - handled_before <= 50
        assert app.conflator.waiting == 0
        assert len(app.chart.history(selected).ticks) <= MAX_TICKS
        assert len(app.tape.tape) <= TAPE_ROWS


async def test_log_lines_in_a_burst_are_written_together_and_bounded() -> None:
    app, _ = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        log = app.log_pane
        written: list[object] = []
        write = log.write

        def counted(content: Any, *args: Any, **kwargs: Any) -> Any:
            written.append(content)
            return write(content, *args, **kwargs)

        log.write = counted  # type: ignore[method-assign]
        for n in range(3_000):  # order events at full rate, between two turns of the pane
            log.add_line(n, "info", "orders", f"line {n}")
        await settle(pilot)
        assert log.entries[-1].endswith("line 2999") and len(log.entries) == 1000
        # Only the newest 1,000 were rendered (each line rendered costs a wrap and a refresh).
        assert len(written) == 1000 and "line 2999" in log.lines[-1].text


async def test_status_line_shows_the_simulators_lag_and_skips_while_it_lags() -> None:
    app, feed = offline_app()
    async with app.run_test(size=(200, 48)) as pilot:
        stats = next(p for p in snapshot_payloads() if isinstance(p, EngineStats))
        deliver(app, feed, stats)
        await settle(pilot)
        assert "sim lag" not in app.status_line.render().plain
        lagging = msgspec.structs.replace(stats, sim_lag_ms=850.0, sim_dropped=1_204_000)
        deliver(app, feed, lagging)
        await settle(pilot)
        assert "sim lag 0.8s 1,204,000 skipped" in app.status_line.render().plain


async def test_live_tables_keep_a_screenful_of_renders_not_thousands() -> None:
    """Each ticker flush re-renders the watchlist under a new cache key: the old renders must
    not pile up (Textual keeps 10,000 cells per table by default: tens of MB at full rate)."""
    app, feed = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        market = deliver_market(app, feed)
        await settle(pilot)
        tickers = next(p for p in market if isinstance(p, Tickers))
        for n in range(120):  # twelve seconds of flushes at 10 Hz, each drawn
            rows = [
                msgspec.structs.replace(row, last=str(int(row.last or "1000") + n * 10))
                for row in tickers.tickers
            ]
            deliver(app, feed, msgspec.structs.replace(tickers, tickers=rows, ts=tickers.ts + n))
            await pilot.pause()
        assert app.watchlist.get_cell(app.watchlist.instrument_ids[0], "last").plain
        assert len(app.watchlist._cell_render_cache) <= CELLS
        assert len(app.watchlist._line_cache) <= ROWS


async def test_view_keys_leave_no_footer_keys_behind() -> None:
    """Each focus change rebuilds the footer's keys; Textual's Footer kept every old one alive
    (about nine widgets per key press, for as long as the console ran)."""
    app, _ = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)

        def footer_keys() -> int:
            gc.collect()
            return sum(isinstance(thing, FooterKey) for thing in gc.get_objects())

        shown = footer_keys()
        for key in ("p", "p", "O", "O", "l", "l") * 5:
            await pilot.press(key)
        await settle(pilot)
        assert shown > 0 and footer_keys() <= 2 * shown
