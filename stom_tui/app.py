"""The STOM console: a :class:`~stom_tui.main_screen.MainScreen` fed by a
:class:`~stom_tui.feed.Feed`, with controllers for trading, strategies and the session.

The app holds no trading state of its own, only what it needs to draw: the instrument list and
three reactives — the selected instrument, the engine's online state and whether it can take
orders — whose watchers move the screen. Orders, positions and the account live in the engine
and arrive as retained snapshots; keys send commands through the controllers
(:mod:`stom_tui.controllers`). The feed posts its messages to the app; each handler counts the
message (:meth:`take`) and hands it to the screen or a controller.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import BindingType
from textual.message import Message
from textual.reactive import var
from textual.worker import Worker, WorkerState

from engine.config.settings import Settings
from engine.protocol.payloads import InstrumentInfo
from stom_tui.commands import InstrumentEntry, InstrumentProvider, TradingProvider
from stom_tui.conflation import Conflator
from stom_tui.controllers.market import MarketController
from stom_tui.controllers.strategy import StrategyController
from stom_tui.controllers.trading import TradingController
from stom_tui.feed import Feed
from stom_tui.health import EnginePresence, Health
from stom_tui.keys import APP_BINDINGS
from stom_tui.main_screen import MainScreen
from stom_tui.messages import (
    AccountUpdated,
    BacktestProgressed,
    BarUpdated,
    BookUpdated,
    EngineStatsReceived,
    EngineStatusChanged,
    FeedConnectionChanged,
    FeedsHealthUpdated,
    InstrumentsReceived,
    LogReceived,
    OptimizeProgressed,
    OrderEventReceived,
    OrdersUpdated,
    PayloadMalformed,
    PositionsUpdated,
    ReconciliationReported,
    RiskStateChanged,
    StrategiesUpdated,
    TickersUpdated,
    TradesReceived,
)
from stom_tui.metrics import AppMetrics
from stom_tui.screens.help import HelpScreen, KeyHelp

if TYPE_CHECKING:
    from stom_tui.controllers.session import SessionController
    from stom_tui.widgets import (
        LogPane,
        OrdersPane,
        PositionsPane,
        PriceChart,
        PriceLadder,
        StatusLine,
        TimeAndSales,
        WatchlistPane,
    )
    from stom_tui.widgets.strategies import StrategiesPane

HEALTH_CHECK_INTERVAL_S = 0.25
SETTLED_HEAP_S = 10.0
"""When the heap is frozen a second time (see :meth:`StomApp.start`)."""


class StomApp(App[None]):
    """The console. ``feed`` supplies the data; ``clock`` (ns) is injectable for tests."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "STOM"
    COMMANDS: ClassVar = App.COMMANDS | {InstrumentProvider, TradingProvider}
    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS

    selected_instrument: var[str | None] = var(None, init=False)
    """The instrument the ladder, chart and tape show (the watchlist's cursor row)."""
    offline: var[bool | None] = var(None, init=False)
    """The engine is offline (no heartbeat, a last will, or no broker): panes dim."""
    trading_state: var[tuple[str | None, str | None]] = var((None, None), init=False)
    """Why cancels and why entries cannot be sent now (None: they can); keys grey out."""

    def __init__(
        self,
        settings: Settings,
        feed: Feed,
        *,
        clock: Callable[[], int] = time.time_ns,
        broker_label: str | None = None,
        engine_note: str | None = None,
        freeze_heap: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.broker_label = broker_label or _strip_credentials(settings.bus.url)
        self.engine_note = engine_note
        self.freeze_heap = freeze_heap
        """Freeze the heap once the panes are up (``stom`` does; tests, which start hundreds
        of apps in one process, do not: each freeze would keep the apps before it)."""
        self.metrics = AppMetrics()
        self.conflator = Conflator()
        """At most one message per topic waits in the queue (stom_tui/conflation.py)."""
        self.presence = EnginePresence(settings.bus.keepalive_s, started_ns=clock())
        self.trading = TradingController(self)
        self.market = MarketController(self, self.trading)
        self.strategies = StrategyController(self)
        self._session: SessionController | None = None
        self._main: MainScreen | None = None
        self._feed_worker: Worker[None] | None = None
        self.set_keymap(dict(settings.app.keymap))

    # --- screens and controllers --------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        self._main = MainScreen(
            self.broker_label,
            self.engine_note,
            trading=self.trading,
            strategies=self.strategies,
            select=self._follow_watchlist,
            arm=self.action_arm,
            ready=self.start,
        )
        return self._main

    @property
    def main(self) -> MainScreen:
        """The main screen (whatever screen is on top)."""
        if self._main is None:
            raise RuntimeError("the main screen is not built yet")
        return self._main

    @property
    def session(self) -> SessionController:
        """Quit, detach and arm (stom_tui/controllers/session.py)."""
        if self._session is None:
            from stom_tui.controllers.session import SessionController

            self._session = SessionController(self)
        return self._session

    def start(self) -> None:
        """Start the feed and the health timer (the main screen calls it once its panes are
        mounted: the feed's first messages go straight to them)."""
        if self._feed_worker is not None:
            return
        if self.engine_note:
            self.main.log_pane.add_notice(self.clock(), "info", self.engine_note)
        self._feed_worker = self.run_worker(
            self.feed.run(self), name="feed", group="feed", exclusive=True, exit_on_error=False
        )
        self.set_interval(HEALTH_CHECK_INTERVAL_S, self.refresh_health, name="health")
        self.refresh_health()
        if self.freeze_heap:
            # Everything alive now (modules, styles, the widget tree) lives as long as the app:
            # moved out of the collector's sight, a full collection scans only what came since.
            # Full collections paused the loop 80-100 ms about once a second at full feed rate;
            # after this freeze 30-40 ms, and after the second one, once the market, its
            # history and the drawn-line caches have filled, 15-20 ms. (Reference counting
            # still frees frozen objects; only a cycle already garbage then would stay.)
            gc.freeze()
            self.set_timer(SETTLED_HEAP_S, gc.freeze, name="freeze-settled-heap")

    def on_unmount(self) -> None:
        if self._feed_worker is not None:
            self._feed_worker.cancel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._feed_worker and event.state is WorkerState.ERROR:
            self.log_pane.add_notice(self.clock(), "error", f"feed stopped: {event.worker.error}")

    async def action_quit(self) -> None:
        await self.session.quit()

    async def action_arm(self) -> None:
        await self.session.arm()

    # --- selection ----------------------------------------------------------------------------

    def select_instrument(self, instrument_id: str) -> None:
        """Select ``instrument_id`` in the watchlist; the other panes follow it."""
        self.main.watchlist.select(instrument_id)
        self.selected_instrument = instrument_id

    def _follow_watchlist(self, instrument_id: str) -> None:
        # The watchlist's cursor moved: it already shows the selection.
        self.selected_instrument = instrument_id

    def watch_selected_instrument(self, instrument_id: str | None) -> None:
        if instrument_id is None:
            return
        self.feed.select_instrument(instrument_id)
        self.main.show_instrument(instrument_id, self.instruments.get(instrument_id))
        self.market.load_history()

    def instrument_entries(self) -> list[InstrumentEntry]:
        """Instruments in watchlist order, for the command palette."""
        return self.market.instrument_entries()

    @property
    def instruments(self) -> dict[str, InstrumentInfo]:
        """Every instrument the engine listed, by id."""
        return self.market.instruments

    # --- feed messages ------------------------------------------------------------------------

    def take(self, message: Message) -> bool:
        """Count a feed message; False once the app is shutting down (its panes may be gone)."""
        self.conflator.taken(message)  # the feed may post this topic's next payload now
        if not self.is_running or self._main is None:
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
            if status.state == "running" and previous is not None:
                self.market.load_history()  # a new engine: what it holds now
        self.refresh_health()

    def on_engine_stats_received(self, message: EngineStatsReceived) -> None:
        if not self.take(message):
            return
        self.presence.on_stats(message.stats, self.clock())
        self.status_line.show_engine_load(message.stats)
        self.refresh_health()

    def on_feeds_health_updated(self, message: FeedsHealthUpdated) -> None:
        if self.take(message):
            self.status_line.show_feeds(message.feeds)
            self.presence.on_feeds(message.feeds, self.clock())  # tick age by receive time
            self.refresh_health()

    def on_instruments_received(self, message: InstrumentsReceived) -> None:
        if self.take(message):
            self.market.instruments_received(message.instruments)

    def on_tickers_updated(self, message: TickersUpdated) -> None:
        if self.take(message):
            self.market.tickers_updated(message.tickers)

    def on_book_updated(self, message: BookUpdated) -> None:
        if self.take(message):
            self.market.book_updated(message.book)

    def on_trades_received(self, message: TradesReceived) -> None:
        if self.take(message):
            self.market.trades_received(message.trades)

    def on_bar_updated(self, message: BarUpdated) -> None:
        if self.take(message):
            self.market.bar_updated(message.bar)

    def on_log_received(self, message: LogReceived) -> None:
        if self.take(message):
            self.log_pane.add_event(message.event)

    def on_feed_connection_changed(self, message: FeedConnectionChanged) -> None:
        if not self.take(message):
            return
        self.presence.on_feed(message.connected, message.reason)
        if message.connected:
            self.log_pane.add_notice(self.clock(), "info", f"connected to {message.broker}")
            self.market.load_history()  # attached (again): what the engine holds now
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

    # --- trading and strategy messages --------------------------------------------------------

    def on_orders_updated(self, message: OrdersUpdated) -> None:
        if self.take(message):
            self.trading.orders_updated(message.orders)

    def on_positions_updated(self, message: PositionsUpdated) -> None:
        if self.take(message):
            self.trading.positions_updated(message.positions)

    def on_account_updated(self, message: AccountUpdated) -> None:
        if self.take(message):
            self.trading.account_updated(message.account)

    def on_risk_state_changed(self, message: RiskStateChanged) -> None:
        if self.take(message):
            self.trading.risk_changed(message.risk)

    def on_order_event_received(self, message: OrderEventReceived) -> None:
        if self.take(message):
            self.trading.order_event(message.update)

    def on_reconciliation_reported(self, message: ReconciliationReported) -> None:
        if self.take(message):
            report = message.reconciliation
            self.trading.reconciliation_reported(report.venue, report.ts, report.differences)

    def on_strategies_updated(self, message: StrategiesUpdated) -> None:
        if self.take(message):
            self.strategies.strategies_updated(message.strategies)

    def on_backtest_progressed(self, message: BacktestProgressed) -> None:
        if self.take(message):
            self.strategies.backtest_progressed(message.progress)

    def on_optimize_progressed(self, message: OptimizeProgressed) -> None:
        if self.take(message):
            self.strategies.optimize_progressed(message.progress)

    # --- health -------------------------------------------------------------------------------

    def refresh_health(self) -> Health:
        """Re-evaluate engine presence and data age now (also runs on a timer)."""
        health = self.presence.evaluate(self.clock())
        if self._main is not None:
            self.status_line.show(health)
            self.offline = health.offline
            self.trading_state = (
                self.trading.unavailable("cancel_all"),
                self.trading.unavailable("buy"),
            )
        return health

    def watch_offline(self, offline: bool | None) -> None:
        self.main.set_offline(bool(offline))

    def watch_trading_state(self) -> None:
        self.main.refresh_bindings()  # the footer greys out what cannot run now

    def run_trading_command(self, action: str) -> None:
        """From the command palette (stom_tui/commands.py)."""
        self.trading.run_command(action)

    # --- help ---------------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[KeyHelp]:
        """Every STOM binding active on the current screen, with its current keys."""
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

    # --- the main screen's panes, by name (tests and the palette read them) -------------------

    @property
    def watchlist(self) -> WatchlistPane:
        return self.main.watchlist

    @property
    def ladder(self) -> PriceLadder:
        return self.main.ladder

    @property
    def chart(self) -> PriceChart:
        return self.main.chart

    @property
    def tape(self) -> TimeAndSales:
        return self.main.tape

    @property
    def log_pane(self) -> LogPane:
        return self.main.log_pane

    @property
    def orders_pane(self) -> OrdersPane:
        return self.main.orders_pane

    @property
    def positions_pane(self) -> PositionsPane:
        return self.main.positions_pane

    @property
    def strategies_pane(self) -> StrategiesPane:
        return self.main.strategies_pane

    @property
    def status_line(self) -> StatusLine:
        return self.main.status_line


def _strip_credentials(url: str) -> str:
    """``mqtt://user:secret@host:1883`` -> ``host:1883`` (nothing secret on screen)."""
    rest = url.split("://", 1)[-1]
    return rest.rpartition("@")[2].rstrip("/")
