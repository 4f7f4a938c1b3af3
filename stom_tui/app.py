"""The STOM console: one main screen of panes fed by a :class:`~stom_tui.feed.Feed`.

The app holds no trading state of its own, only what it needs to draw: the instrument list, the
selected instrument, the engine's presence and the last risk state. Orders, positions and the
account live in the engine and arrive as retained snapshots; the order keys send commands
(see :mod:`stom_tui.trading_actions`).

Tall screens show every pane; short ones show the watchlist, the book and one *view* (market
chart, orders, positions or log) chosen with the view keys or the tab bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Container
from textual.message import Message
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from engine.config.settings import Settings
from engine.protocol.payloads import InstrumentInfo
from stom_tui.commands import InstrumentEntry, InstrumentProvider, TradingProvider
from stom_tui.feed import Feed
from stom_tui.health import EnginePresence, Health
from stom_tui.keys import APP_BINDINGS, VIEW_BINDING_IDS
from stom_tui.messages import (
    BarHistoryReceived,
    BarUpdated,
    BookUpdated,
    EngineStatsReceived,
    EngineStatusChanged,
    FeedConnectionChanged,
    FeedsHealthUpdated,
    InstrumentsReceived,
    LogReceived,
    PayloadMalformed,
    TickersUpdated,
    TradesReceived,
)
from stom_tui.metrics import AppMetrics
from stom_tui.screens.help import HelpScreen, KeyHelp
from stom_tui.strategy_actions import STRATEGY_ACTIONS, StrategyActions
from stom_tui.trading_actions import TRADING_ACTIONS, TradingActions
from stom_tui.widgets import (
    ChartPane,
    LogPane,
    OrderBookPane,
    OrdersPane,
    PositionsPane,
    StatusLine,
    ViewBar,
    WatchlistPane,
)
from stom_tui.widgets.strategies import StrategiesPane
from stom_tui.widgets.view_bar import VIEWS

HEALTH_CHECK_INTERVAL_S = 0.25
TALL_HEIGHT = 44
"""From this many rows every pane has a place of its own; below it, views share one."""


class StomApp(StrategyActions, TradingActions, App[None]):
    """The console. ``feed`` supplies the data; ``clock`` (ns) is injectable for tests."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "STOM"
    COMMANDS: ClassVar = App.COMMANDS | {InstrumentProvider, TradingProvider}
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar = [(0, "-short"), (TALL_HEIGHT, "-tall")]

    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS

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
        self._trading_state: tuple[str | None, str | None] | None = None
        self._feed_worker: Worker[None] | None = None
        self.view = "market"
        self._view_key_labels: dict[str, str] | None = None
        self.init_trading()
        self.set_keymap(dict(settings.app.keymap))

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: ``query_one`` searches the active screen, which may be a modal.
        self.watchlist = WatchlistPane(id="watchlist", classes="pane")
        self.order_book = OrderBookPane(id="book", classes="pane")
        self.chart = ChartPane(self.settings.app.tick_points, id="chart", classes="pane")
        self.log_pane = LogPane(id="log", classes="pane")
        self.orders_pane = OrdersPane(id="orders", classes="pane")
        self.positions_pane = PositionsPane(id="positions", classes="pane")
        self.strategies_pane = StrategiesPane(id="strategies", classes="pane")
        self.view_bar = ViewBar(id="view-bar")
        self.status_line = StatusLine(self.broker_label, self.engine_note, id="status")
        # Grid order matters: see styles/app.tcss.
        with Container(id="panes") as panes:
            self._panes = panes
            yield self.watchlist
            yield self.view_bar
            yield self.order_book
            yield self.chart
            yield self.log_pane
            yield self.strategies_pane
            yield self.orders_pane
            yield self.positions_pane
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
        self._apply_view()

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

    def take(self, message: Message) -> bool:
        """Count a feed message; False once the app is shutting down (its panes may be gone)."""
        if not self.is_running:
            return False
        self.metrics.handled[type(message).__name__] += 1
        return True

    def on_engine_status_changed(self, message: EngineStatusChanged) -> None:
        if not self.take(message):
            return
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
        if not self.take(message):
            return
        self.presence.on_stats(message.stats, self.clock())
        self.refresh_health()

    def on_feeds_health_updated(self, message: FeedsHealthUpdated) -> None:
        if self.take(message):
            self.status_line.show_feeds(message.feeds)

    def on_instruments_received(self, message: InstrumentsReceived) -> None:
        if not self.take(message):
            return
        for info in message.instruments.instruments:
            self.instruments[info.id] = info
        self.watchlist.set_instruments(message.instruments.instruments)
        if self.selected_instrument in self.instruments:
            selected = self.selected_instrument
            self.order_book.show_instrument(selected, self.instruments[selected])
        self._select_first_if_none()

    def on_tickers_updated(self, message: TickersUpdated) -> None:
        if not self.take(message):
            return
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
        if not self.take(message):
            return
        if message.book.id == self.selected_instrument:
            self.order_book.update_book(message.book)
            self.metrics.latencies_ns.append(self.clock() - message.book.ts_event)
            self.follow_quote(message.book.id)

    def on_trades_received(self, message: TradesReceived) -> None:
        if not self.take(message):
            return
        self.chart.add_trades(message.trades)

    def on_bar_updated(self, message: BarUpdated) -> None:
        if not self.take(message):
            return
        self.chart.update_bar(message.bar)

    def on_bar_history_received(self, message: BarHistoryReceived) -> None:
        if not self.take(message):
            return
        self.chart.set_bar_history(message.history)

    def on_log_received(self, message: LogReceived) -> None:
        if not self.take(message):
            return
        self.log_pane.add_event(message.event)

    def on_feed_connection_changed(self, message: FeedConnectionChanged) -> None:
        if not self.take(message):
            return
        self.presence.on_feed(message.connected, message.reason)
        if message.connected:
            self.log_pane.add_notice(self.clock(), "info", f"connected to {message.broker}")
        else:
            reason = f": {message.reason}" if message.reason else ""
            text = f"no connection to {message.broker}{reason}; retrying"
            self.log_pane.add_notice(self.clock(), "warning", text)
        self.refresh_health()

    def on_payload_malformed(self, message: PayloadMalformed) -> None:
        if not self.take(message):
            return
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
            for pane in self._panes.query(".pane"):
                pane.set_class(health.offline, "-offline")
        trading_state = (self.trading_unavailable("cancel_all"), self.trading_unavailable("buy"))
        if trading_state != self._trading_state:
            self._trading_state = trading_state
            self.refresh_bindings()  # the footer greys out what cannot run now
        return health

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRADING_ACTIONS or action in STRATEGY_ACTIONS:
            if len(self.screen_stack) > 1:
                return False  # not from inside a modal (the ticket, a confirm, help)
            return None if self.trading_unavailable(action) else True
        return True

    # --- views --------------------------------------------------------------------------------

    def action_toggle_view(self, view: str) -> None:
        """Short screens: show ``view`` in the shared area, or the market again if it is shown.

        Tall screens show every pane; there the log key gives the log more room, and the orders
        and positions keys move the cursor into their table (and back).
        """
        self.show_view("market" if self.view == view else view)

    def action_show_view(self, view: str) -> None:
        self.show_view(view)

    def show_view(self, view: str) -> None:
        if view not in dict(VIEWS):
            return
        self.view = view
        self._apply_view()

    def _apply_view(self) -> None:
        for name, _ in VIEWS:
            self._panes.set_class(name == self.view, f"-view-{name}")
        self.show_view_counts()
        table = {
            "orders": self.orders_pane,
            "positions": self.positions_pane,
            "strategies": self.strategies_pane,
        }.get(self.view)
        if table is not None:
            self.call_after_refresh(table.focus)
        elif self.focused in (self.orders_pane, self.positions_pane, self.strategies_pane):
            self.watchlist.focus()

    def show_view_counts(self) -> None:
        counts = {
            "orders": self.orders_pane.open_count,
            "positions": self.positions_pane.open_count,
            "strategies": self.strategies_pane.running_count,
        }
        if self._view_key_labels is None:
            self._view_key_labels = self._view_keys()
        hidden = frozenset() if self.has_strategies else frozenset({"strategies"})
        self.view_bar.show(self.view, keys=self._view_key_labels, counts=counts, hidden=hidden)

    def _view_keys(self) -> dict[str, str]:
        """The (possibly remapped) key of each view, for the tabs."""
        keys: dict[str, str] = {}
        wanted = {binding_id: view for view, binding_id in VIEW_BINDING_IDS.items()}
        for active in self.screen_stack[0].active_bindings.values():
            view = wanted.get(active.binding.id or "")
            if view is not None and view not in keys:
                keys[view] = self.get_key_display(active.binding)
        return keys

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
