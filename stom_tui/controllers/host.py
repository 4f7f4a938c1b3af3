"""What the controllers need of the app and of its main screen, as protocols.

The app imports the controllers and the main screen; were they to import the app back (even
only for type hints) the modules would form an import circle (tests/test_architecture.py).
They are typed against these protocols instead, which :class:`stom_tui.app.StomApp` and
:class:`stom_tui.main_screen.MainScreen` satisfy.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker

from engine.config.settings import Settings
from engine.protocol.payloads import InstrumentInfo
from engine.protocol.trading import FillRow, OrderRow, Orders, Positions
from stom_tui.feed import Feed
from stom_tui.health import EnginePresence
from stom_tui.metrics import AppMetrics
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


class Panes(Protocol):
    """The main screen as the controllers use it."""

    watchlist: WatchlistPane
    ladder: PriceLadder
    chart: PriceChart
    tape: TimeAndSales
    log_pane: LogPane
    orders_pane: OrdersPane
    positions_pane: PositionsPane
    strategies_pane: StrategiesPane
    status_line: StatusLine

    def show_view(self, view: str) -> None: ...

    def show_instrument(self, instrument_id: str, info: InstrumentInfo | None) -> None: ...

    def show_orders(self, orders: Orders) -> None: ...

    def show_positions(self, positions: Positions) -> None: ...

    def show_fill(self, order: OrderRow, fill: FillRow) -> None: ...

    def strategies_listed(self, listed: bool) -> None: ...


class Console(Protocol):
    """The app as the controllers use it."""

    settings: Settings
    feed: Feed
    clock: Callable[[], int]
    presence: EnginePresence
    metrics: AppMetrics

    @property
    def selected_instrument(self) -> str | None: ...

    @property
    def instruments(self) -> dict[str, InstrumentInfo]: ...

    @property
    def main(self) -> Panes: ...

    @property
    def screen(self) -> Screen[Any]: ...

    @property
    def screen_stack(self) -> list[Screen[Any]]: ...

    def select_instrument(self, instrument_id: str) -> None: ...

    def refresh_health(self) -> Any: ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...

    def run_worker(
        self,
        work: Coroutine[Any, Any, Any],
        name: str | None = "",
        group: str = "default",
        description: str = "",
        exit_on_error: bool = True,
        start: bool = True,
        exclusive: bool = False,
        thread: bool = False,
    ) -> Worker[Any]: ...

    def call_after_refresh(self, callback: Callable[[], Any]) -> bool: ...
