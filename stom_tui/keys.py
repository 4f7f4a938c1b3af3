"""Every key of the console outside its modals: one place to read them.

Ids are what ``[app.keymap]`` remaps and what the help screen lists. ``APP_BINDINGS`` work on
every screen (help, quit, the palette); ``MAIN_BINDINGS`` belong to the main screen
(:class:`stom_tui.main_screen.MainScreen`). The focused pane adds its own: the watchlist's
arrows, and the price ladder's cursor and order keys (ids ``ladder_*``), which win over the
screen's ``b``/``s``/``c`` while the ladder has focus.

The footer shows them in this order; the order keys come first because they matter most while
trading, and ``check_action`` greys them out while the engine cannot take orders.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

VIEW_BINDING_IDS = {
    "market": "show_market",
    "orders": "show_orders",
    "positions": "show_positions",
    "strategies": "show_strategies",
    "log": "toggle_log",
}
"""The binding that shows each view (its key is shown on the view tabs)."""

APP_BINDINGS: list[BindingType] = [
    Binding(
        "slash",
        "command_palette",
        "Find",
        id="find_instrument",
        key_display="/",
        tooltip="Find an instrument or a command (command palette)",
    ),
    Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Show every key"),
    Binding(
        "q",
        "quit",
        "Quit",
        id="quit",
        tooltip="Quit the console (asks first if its engine has open orders or positions)",
    ),
]

MAIN_BINDINGS: list[BindingType] = [
    Binding("b", "buy", "Buy", id="buy", tooltip="Buy the selected instrument (order ticket)"),
    Binding("s", "sell", "Sell", id="sell", tooltip="Sell the selected instrument (order ticket)"),
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
        tooltip="Kill switch: cancel all, block entries (asks first)",
    ),
    Binding(
        "L",
        "focus_ladder",
        "Ladder",
        id="focus_ladder",
        tooltip="Trade from the price ladder (cursor, b/s at the cursor's price, c cancels)",
    ),
    Binding(
        "escape",
        "back",
        "Back",
        id="back",
        show=False,
        tooltip="Back to the Market view and the watchlist",
    ),
    Binding(
        "m",
        "show_view('market')",
        "Market",
        id="show_market",
        show=False,
        tooltip="Show the Market view (chart and trades)",
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
        "l",
        "toggle_view('log')",
        "Log",
        id="toggle_log",
        tooltip="Show the log (again: back to the Market view)",
    ),
    Binding(
        "T",
        "chart_timeframe",
        "Timeframe",
        id="chart_timeframe",
        show=False,
        tooltip="Chart: next timeframe (tick, 1s, 1m, 5m, 15m)",
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
        "a",
        "arm",
        "Arm",
        id="arm",
        show=False,
        tooltip="Arm a live venue for real orders (asks first, naming venue and mode)",
    ),
]
