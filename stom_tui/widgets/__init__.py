"""The panes of the main screen."""

from __future__ import annotations

from stom_tui.widgets.log import LogPane
from stom_tui.widgets.orders import OrdersPane
from stom_tui.widgets.positions import PositionsPane
from stom_tui.widgets.price_chart import PriceChart
from stom_tui.widgets.price_ladder import PriceLadder
from stom_tui.widgets.status_line import StatusLine
from stom_tui.widgets.time_and_sales import TimeAndSales
from stom_tui.widgets.view_bar import ViewBar
from stom_tui.widgets.watchlist import WatchlistPane

__all__ = [
    "LogPane",
    "OrdersPane",
    "PositionsPane",
    "PriceChart",
    "PriceLadder",
    "StatusLine",
    "TimeAndSales",
    "ViewBar",
    "WatchlistPane",
]
