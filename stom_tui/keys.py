"""Every key of the main screen: one place to read them (ids are what ``[app.keymap]`` remaps).

The footer shows them in this order; the order keys come first because they matter most while
trading, and ``check_action`` greys them out while the engine cannot take orders.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

VIEW_BINDING_IDS = {
    "orders": "show_orders",
    "positions": "show_positions",
    "strategies": "show_strategies",
    "log": "toggle_log",
}
"""The binding that shows each view (its key is shown on the view tabs)."""

APP_BINDINGS: list[BindingType] = [
    Binding("b", "buy", "Buy", id="buy", tooltip="Buy the selected instrument"),
    Binding("s", "sell", "Sell", id="sell", tooltip="Sell the selected instrument"),
    Binding(
        "c",
        "cancel_order",
        "Cancel",
        id="cancel_order",
        tooltip="Cancel the order selected in Orders",
    ),
    Binding(
        "X",
        "cancel_all",
        "Cancel all",
        id="cancel_all",
        tooltip="Cancel every open order (asks first)",
    ),
    Binding(
        "K",
        "kill",
        "Kill",
        id="kill",
        tooltip="Kill switch: cancel all, block entries",
    ),
    Binding(
        "O",
        "toggle_view('orders')",
        "Orders",
        id="show_orders",
        show=False,
        tooltip="Show the orders and select in them",
    ),
    Binding(
        "p",
        "toggle_view('positions')",
        "Positions",
        id="show_positions",
        show=False,
        tooltip="Show the positions and select in them",
    ),
    Binding(
        "S",
        "toggle_view('strategies')",
        "Strategies",
        id="show_strategies",
        show=False,
        tooltip="Show the strategies and select in them",
    ),
    Binding(
        "t",
        "toggle_strategy",
        "Toggle",
        id="toggle_strategy",
        show=False,
        tooltip="Start or stop the selected strategy",
    ),
    Binding(
        "r",
        "backtest",
        "Backtest",
        id="backtest",
        show=False,
        tooltip="Backtest a strategy on recorded ticks",
    ),
    Binding(
        "o",
        "optimize",
        "Optimize",
        id="optimize",
        show=False,
        tooltip="Optimize a strategy on recorded ticks",
    ),
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
        "toggle_view('log')",
        "Log",
        id="toggle_log",
        tooltip="Show the log or give it more room",
    ),
    Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Show every key"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit the console"),
]
