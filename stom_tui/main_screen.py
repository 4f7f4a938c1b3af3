"""The main screen: the Market view (watchlist, price ladder, chart, time & sales) and the
orders, positions, log and strategies views, with the screen's keys.

The ladder keeps its place at every size. The other views take the chart's place (styles/app.tcss;
below 120 columns and 44 rows, the tape's too: a table needs the whole width); on tall screens
orders, positions and the log also have rows of their own.
The screen only shows: the app feeds it (``show_*``) and its actions call the app's
controllers (:mod:`stom_tui.controllers`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Container, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable

from engine.protocol.payloads import InstrumentInfo
from engine.protocol.trading import FillRow, OrderRow, Orders, Positions
from stom_tui.controllers.strategy import STRATEGY_ACTIONS, StrategyController
from stom_tui.controllers.trading import TRADING_ACTIONS, TradingController
from stom_tui.formatting import parse_decimal
from stom_tui.keys import MAIN_BINDINGS, VIEW_BINDING_IDS
from stom_tui.widgets import (
    LogPane,
    OrdersPane,
    PositionsPane,
    PriceChart,
    PriceLadder,
    StatusLine,
    TimeAndSales,
    ViewBar,
    WatchlistPane,
)
from stom_tui.widgets.footer import KeyFooter
from stom_tui.widgets.strategies import StrategiesPane
from stom_tui.widgets.view_bar import VIEWS

TALL_HEIGHT = 44
"""From this many rows orders, positions and the log have rows of their own."""
SESSION_ACTIONS = frozenset({"arm"})


class MainScreen(Screen[None]):
    """The console's one main screen; ``view`` is the view shown beside the ladder."""

    BINDINGS: ClassVar[list[BindingType]] = MAIN_BINDINGS
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-narrow"),
        (120, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-short"),
        (TALL_HEIGHT, "-tall"),
    ]

    view: var[str] = var("market", init=False)
    """The view beside the ladder: market (chart), orders, positions, strategies or log."""

    def __init__(
        self,
        broker_label: str,
        engine_note: str | None,
        *,
        trading: TradingController,
        strategies: StrategyController,
        select: Callable[[str], None],
        arm: Callable[[], Awaitable[None]],
        ready: Callable[[], None],
    ) -> None:
        """``select`` selects an instrument (the app's reactive), ``arm`` is the session's arm
        key, ``ready`` starts the feed once the panes are mounted."""
        super().__init__(id="main")
        self.trading = trading
        self.strategies = strategies
        self._select = select
        self._arm = arm
        self._ready = ready
        self.instrument_id: str | None = None
        """The instrument the market panes show."""
        self.watchlist = WatchlistPane(id="watchlist", classes="pane")
        self.ladder = PriceLadder(id="ladder", classes="pane")
        self.chart = PriceChart(id="chart", classes="pane view")
        self.tape = TimeAndSales(id="tape", classes="pane")
        self.log_pane = LogPane(id="log", classes="pane view")
        self.orders_pane = OrdersPane(id="orders", classes="pane view")
        self.positions_pane = PositionsPane(id="positions", classes="pane view")
        self.strategies_pane = StrategiesPane(id="strategies", classes="pane view")
        self.view_bar = ViewBar(id="view-bar")
        self.status_line = StatusLine(broker_label, engine_note, id="status")
        self.panes = Container(id="panes")
        self.views = Vertical(id="views", classes="-view-market")
        self._view_key_labels: dict[str, str] | None = None
        self._position_rows: Positions | None = None

    def compose(self) -> ComposeResult:
        # Grid order matters (styles/app.tcss): ladder, watchlist, views, tape.
        with self.panes:
            yield self.ladder
            yield self.watchlist
            with self.views:
                yield self.view_bar
                yield self.chart
                yield self.orders_pane
                yield self.positions_pane
                yield self.strategies_pane
                yield self.log_pane
            yield self.tape
        yield self.status_line
        yield KeyFooter()  # Textual's Footer kept every key it ever showed (widgets/footer.py)

    def on_mount(self) -> None:
        self.watchlist.focus()
        self.show_view_counts()
        self._ready()

    # --- what the app feeds -------------------------------------------------------------------

    def show_instrument(self, instrument_id: str, info: InstrumentInfo | None) -> None:
        """Every market pane follows ``instrument_id``."""
        self.instrument_id = instrument_id
        self.ladder.show_instrument(instrument_id, info)
        self.chart.show_instrument(instrument_id, info)
        self.tape.show_instrument(instrument_id, info)
        self._show_position()

    def show_orders(self, orders: Orders) -> None:
        self.orders_pane.update_orders(orders)
        self.ladder.set_orders(orders.orders)
        self.chart.set_orders(orders.orders)
        self.show_view_counts()

    def show_positions(self, positions: Positions) -> None:
        self._position_rows = positions
        self.positions_pane.update_positions(positions)
        self._show_position()
        self.show_view_counts()

    def _show_position(self) -> None:
        selected = self.instrument_id
        rows = self._position_rows.positions if self._position_rows else []
        row = next((p for p in rows if p.instrument_id == selected), None)
        held = parse_decimal(row.quantity) if row else None
        self.ladder.set_position(row if held else None)

    def show_fill(self, order: OrderRow, fill: FillRow) -> None:
        """Mark an own fill on the chart (its price and side at its time)."""
        price = parse_decimal(fill.price)
        if price is not None:
            self.chart.add_fill(fill.instrument_id, fill.ts, price, fill.side)

    def strategies_listed(self, listed: bool) -> None:
        self.panes.set_class(listed, "-strategies")
        self.show_view_counts()

    # --- views --------------------------------------------------------------------------------

    def action_toggle_view(self, view: str) -> None:
        """Show ``view`` beside the ladder, or the market again if it is shown."""
        self.show_view("market" if self.view == view else view)

    def action_show_view(self, view: str) -> None:
        self.show_view(view)

    def show_view(self, view: str) -> None:
        if view in dict(VIEWS):
            self.view = view

    def watch_view(self, view: str) -> None:
        # One restyle for the whole change, and only of the views and their panes: the view
        # rules set their display (styles/app.tcss), nothing inside them.
        for name, _ in VIEWS:
            self.views.set_class(name == view, f"-view-{name}", update=False)
        self.panes.set_class(view != "market", "-view-other", update=False)
        self.app.stylesheet.update_nodes(
            [self.panes, *self.panes.children, *self.views.children], animate=False
        )
        self.show_view_counts()
        table = self._view_table(view)
        if table is not None:
            self.call_after_refresh(table.focus)
        elif self.focused in (self.orders_pane, self.positions_pane, self.strategies_pane):
            self.watchlist.focus()

    def _view_table(self, view: str) -> DataTable[object] | None:
        tables: dict[str, DataTable[object]] = {
            "orders": self.orders_pane,  # type: ignore[dict-item]
            "positions": self.positions_pane,  # type: ignore[dict-item]
            "strategies": self.strategies_pane,  # type: ignore[dict-item]
        }
        return tables.get(view)

    def show_view_counts(self) -> None:
        counts = {
            "orders": self.orders_pane.open_count,
            "positions": self.positions_pane.open_count,
            "strategies": self.strategies_pane.running_count,
        }
        if not self._view_key_labels and self.is_mounted:
            # Read once the bindings are active (they are not yet while the screen mounts).
            self._view_key_labels = self._view_keys() or None
        hidden = frozenset() if self.strategies_pane.strategies else frozenset({"strategies"})
        keys = self._view_key_labels or {}
        self.view_bar.show(self.view, keys=keys, counts=counts, hidden=hidden)

    def _view_keys(self) -> dict[str, str]:
        """The (possibly remapped) key of each view, for the tabs."""
        keys: dict[str, str] = {}
        wanted = {binding_id: view for view, binding_id in VIEW_BINDING_IDS.items()}
        for active in self.active_bindings.values():
            view = wanted.get(active.binding.id or "")
            if view is not None and view not in keys:
                keys[view] = self.app.get_key_display(active.binding)
        return keys

    # --- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRADING_ACTIONS or action in STRATEGY_ACTIONS or action in SESSION_ACTIONS:
            # None greys the key out in the footer; pressing it says why (see _unavailable).
            return None if self.trading.unavailable(action) else True
        return True

    def action_buy(self) -> None:
        self.trading.buy()

    def action_sell(self) -> None:
        self.trading.sell()

    def action_cancel_order(self) -> None:
        self.trading.cancel_order()

    def action_cancel_all(self) -> None:
        self.trading.cancel_all()

    def action_kill(self) -> None:
        self.trading.kill()

    def action_kill_reset(self) -> None:
        self.trading.kill_reset()

    def action_toggle_strategy(self) -> None:
        self.strategies.toggle_strategy()

    def action_backtest(self) -> None:
        self.strategies.backtest()

    def action_optimize(self) -> None:
        self.strategies.optimize()

    async def action_arm(self) -> None:
        await self._arm()

    def action_chart_timeframe(self) -> None:
        self.chart.cycle_timeframe()

    def action_focus_ladder(self) -> None:
        self.ladder.focus()

    def action_back(self) -> None:
        self.show_view("market")
        self.watchlist.focus()

    # --- the ladder's requests ----------------------------------------------------------------

    def on_price_ladder_order_at_price(self, message: PriceLadder.OrderAtPrice) -> None:
        message.stop()
        self.trading.ladder.order_at_price(
            message.instrument_id, message.side, message.price, message.kind
        )

    def on_price_ladder_cancel_at_price(self, message: PriceLadder.CancelAtPrice) -> None:
        message.stop()
        self.trading.ladder.cancel_at_price(
            message.instrument_id, message.price, list(message.order_ids)
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is not self.watchlist:
            return
        # Read the cursor now rather than the event's row: after a rebuild, queued events
        # may name rows the cursor has already left.
        selected = self.watchlist.selected_id
        if selected is not None:
            self._select(selected)

    def set_offline(self, offline: bool) -> None:
        """Dim every pane (keeping its data) while the engine is offline."""
        for pane in self.panes.query(".pane"):
            pane.set_class(offline, "-offline")
