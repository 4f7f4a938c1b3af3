"""The STOM console: one main screen of panes fed by a :class:`~stom_tui.feed.Feed`.

The app holds no trading state of its own, only what it needs to draw: the instrument list, the
selected instrument and the engine's presence. Everything else lives in the engine and arrives
as messages from the feed worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.message import Message
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from engine.config.settings import Settings
from engine.protocol.payloads import InstrumentInfo
from stom_tui.commands import InstrumentEntry, InstrumentProvider
from stom_tui.feed import Feed
from stom_tui.health import EnginePresence, Health
from stom_tui.messages import (
    BarHistoryReceived,
    BarUpdated,
    BookUpdated,
    EngineStatsReceived,
    EngineStatusChanged,
    FeedConnectionChanged,
    InstrumentsReceived,
    LogReceived,
    PayloadMalformed,
    TickersUpdated,
    TradesReceived,
)
from stom_tui.metrics import AppMetrics
from stom_tui.screens.help import HelpScreen, KeyHelp
from stom_tui.widgets import ChartPane, LogPane, OrderBookPane, StatusLine, WatchlistPane

HEALTH_CHECK_INTERVAL_S = 0.25
TALL_HEIGHT = 34
"""From this many rows the log has a place of its own; below it, it shares the chart's."""


class StomApp(App[None]):
    """The console. ``feed`` supplies the data; ``clock`` (ns) is injectable for tests."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "STOM"
    COMMANDS: ClassVar = App.COMMANDS | {InstrumentProvider}
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar = [(0, "-short"), (TALL_HEIGHT, "-tall")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "command_palette",
            "Find",
            id="find_instrument",
            key_display="/",
            tooltip="Find an instrument (command palette)",
        ),
        Binding(
            "l",
            "toggle_log",
            "Log",
            id="toggle_log",
            tooltip="Show the log (small screens) or give it more room",
        ),
        Binding(
            "question_mark", "help", "Help", id="help", key_display="?", tooltip="Show every key"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit the console"),
    ]

    def __init__(
        self,
        settings: Settings,
        feed: Feed,
        *,
        clock: Callable[[], int] = time.time_ns,
        broker_label: str | None = None,
        engine_note: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.broker_label = broker_label or _strip_credentials(settings.bus.url)
        self.engine_note = engine_note
        self.metrics = AppMetrics()
        self.presence = EnginePresence(settings.bus.keepalive_s, started_ns=clock())
        self.instruments: dict[str, InstrumentInfo] = {}
        self.selected_instrument: str | None = None
        self._offline: bool | None = None
        self._feed_worker: Worker[None] | None = None
        self.set_keymap(dict(settings.app.keymap))

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: ``query_one`` searches the active screen, which may be a modal.
        self.watchlist = WatchlistPane(id="watchlist", classes="pane")
        self.order_book = OrderBookPane(id="book", classes="pane")
        self.chart = ChartPane(self.settings.app.tick_points, id="chart", classes="pane")
        self.log_pane = LogPane(id="log", classes="pane")
        self.status_line = StatusLine(self.broker_label, self.engine_note, id="status")
        with Container(id="panes") as panes:
            self._panes = panes
            yield self.watchlist
            yield self.order_book
            yield self.chart
            yield self.log_pane
        yield self.status_line
        yield Footer()

    def on_mount(self) -> None:
        self.watchlist.focus()
        if self.engine_note:
            self.log_pane.add_notice(self.clock(), "info", self.engine_note)
        self._feed_worker = self.run_worker(
            self.feed.run(self), name="feed", group="feed", exclusive=True, exit_on_error=False
        )
        self.set_interval(HEALTH_CHECK_INTERVAL_S, self.refresh_health, name="health")
        self.refresh_health()

    def on_unmount(self) -> None:
        if self._feed_worker is not None:
            self._feed_worker.cancel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._feed_worker and event.state is WorkerState.ERROR:
            self.log_pane.add_notice(self.clock(), "error", f"feed stopped: {event.worker.error}")

    # --- selection ----------------------------------------------------------------------------

    def select_instrument(self, instrument_id: str) -> None:
        """Select ``instrument_id`` in the watchlist; the other panes follow it."""
        self.watchlist.select(instrument_id)
        self._follow(instrument_id)

    def instrument_entries(self) -> list[InstrumentEntry]:
        """Instruments in watchlist order, for the command palette."""
        entries = []
        for instrument_id in self.watchlist.instrument_ids:
            info = self.instruments.get(instrument_id)
            name, kind = (info.name, info.kind) if info else (instrument_id, "instrument")
            entries.append(InstrumentEntry(instrument_id, name, kind))
        return entries

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is not self.watchlist:
            return
        # Read the cursor now rather than the event's row: after a rebuild, queued events
        # may name rows the cursor has already left.
        selected = self.watchlist.selected_id
        if selected is not None:
            self._follow(selected)

    def _follow(self, instrument_id: str) -> None:
        if instrument_id == self.selected_instrument:
            return
        self.selected_instrument = instrument_id
        self.feed.select_instrument(instrument_id)
        self.order_book.show_instrument(instrument_id, self.instruments.get(instrument_id))
        self.chart.show_instrument(instrument_id)

    def _select_first_if_none(self) -> None:
        if self.selected_instrument is None and self.watchlist.instrument_ids:
            self.select_instrument(self.watchlist.instrument_ids[0])

    # --- feed messages ------------------------------------------------------------------------

    def _count(self, message: Message) -> None:
        self.metrics.handled[type(message).__name__] += 1

    def on_engine_status_changed(self, message: EngineStatusChanged) -> None:
        self._count(message)
        previous = self.presence.status
        self.presence.on_status(message.status)
        status = message.status
        if previous is None or previous.state != status.state:
            level = "warning" if status.state in ("offline", "stopped", "degraded") else "info"
            reason = f" ({status.reason})" if status.reason else ""
            text = f"engine {status.engine_id} {status.state}{reason}"
            self.log_pane.add_notice(self.clock(), level, text)
        self.refresh_health()

    def on_engine_stats_received(self, message: EngineStatsReceived) -> None:
        self._count(message)
        self.presence.on_stats(message.stats, self.clock())
        self.refresh_health()

    def on_instruments_received(self, message: InstrumentsReceived) -> None:
        self._count(message)
        for info in message.instruments.instruments:
            self.instruments[info.id] = info
        self.watchlist.set_instruments(message.instruments.instruments)
        if self.selected_instrument in self.instruments:
            selected = self.selected_instrument
            self.order_book.show_instrument(selected, self.instruments[selected])
        self._select_first_if_none()

    def on_tickers_updated(self, message: TickersUpdated) -> None:
        self._count(message)
        tickers = message.tickers.tickers
        self.watchlist.update_tickers(tickers)
        self._select_first_if_none()
        if tickers:
            newest = max(ticker.ts_event for ticker in tickers)
            self.presence.on_tick(newest)
            self.metrics.latencies_ns.append(self.clock() - newest)
            if self.metrics.first_live_frame_ns is None:
                self.call_after_refresh(self._mark_first_live_frame)

    def _mark_first_live_frame(self) -> None:
        if self.metrics.first_live_frame_ns is None:
            self.metrics.first_live_frame_ns = self.clock()

    def on_book_updated(self, message: BookUpdated) -> None:
        self._count(message)
        if message.book.id == self.selected_instrument:
            self.order_book.update_book(message.book)
            self.metrics.latencies_ns.append(self.clock() - message.book.ts_event)

    def on_trades_received(self, message: TradesReceived) -> None:
        self._count(message)
        self.chart.add_trades(message.trades)

    def on_bar_updated(self, message: BarUpdated) -> None:
        self._count(message)
        self.chart.update_bar(message.bar)

    def on_bar_history_received(self, message: BarHistoryReceived) -> None:
        self._count(message)
        self.chart.set_bar_history(message.history)

    def on_log_received(self, message: LogReceived) -> None:
        self._count(message)
        self.log_pane.add_event(message.event)

    def on_feed_connection_changed(self, message: FeedConnectionChanged) -> None:
        self._count(message)
        self.presence.on_feed(message.connected, message.reason)
        if message.connected:
            self.log_pane.add_notice(self.clock(), "info", f"connected to {message.broker}")
        else:
            reason = f": {message.reason}" if message.reason else ""
            text = f"no connection to {message.broker}{reason}; retrying"
            self.log_pane.add_notice(self.clock(), "warning", text)
        self.refresh_health()

    def on_payload_malformed(self, message: PayloadMalformed) -> None:
        self._count(message)
        self.metrics.malformed += 1
        text = f"malformed payload on {message.topic}: {message.error}"
        self.log_pane.add_notice(self.clock(), "warning", text)

    # --- health -------------------------------------------------------------------------------

    def refresh_health(self) -> Health:
        """Re-evaluate engine presence and data age now (also runs on a timer)."""
        health = self.presence.evaluate(self.clock())
        self.status_line.show(health)
        if health.offline != self._offline:
            self._offline = health.offline
            for pane in (self.watchlist, self.order_book, self.chart, self.log_pane):
                pane.set_class(health.offline, "-offline")
        return health

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_log(self) -> None:
        """Short screens: the log takes the chart's place (and the book's, when narrow).

        Tall screens show the log all the time; there the key gives it more room.
        """
        self._panes.toggle_class("-show-log")

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[KeyHelp]:
        """Every STOM binding active on the main screen, with its current keys."""
        keys_by_id: dict[str, list[str]] = {}
        descriptions: dict[str, str] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.id is None or not binding.description:
                continue
            keys_by_id.setdefault(binding.id, []).append(self.get_key_display(binding))
            descriptions[binding.id] = binding.tooltip or binding.description
        return [
            KeyHelp(", ".join(keys), descriptions[binding_id], binding_id)
            for binding_id, keys in keys_by_id.items()
        ]


def _strip_credentials(url: str) -> str:
    """``mqtt://user:secret@host:1883`` -> ``host:1883`` (nothing secret on screen)."""
    rest = url.split("://", 1)[-1]
    return rest.rpartition("@")[2].rstrip("/")
