"""The panes of the main screen."""

from __future__ import annotations

from stom_tui.widgets.chart import ChartPane
from stom_tui.widgets.log import LogPane
from stom_tui.widgets.order_book import OrderBookPane
from stom_tui.widgets.orders import OrdersPane
from stom_tui.widgets.positions import PositionsPane
from stom_tui.widgets.status_line import StatusLine
from stom_tui.widgets.view_bar import ViewBar
from stom_tui.widgets.watchlist import WatchlistPane

__all__ = [
    "ChartPane",
    "LogPane",
    "OrderBookPane",
    "OrdersPane",
    "PositionsPane",
    "StatusLine",
    "ViewBar",
    "WatchlistPane",
]
