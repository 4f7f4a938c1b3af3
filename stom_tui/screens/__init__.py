"""Modal and secondary screens."""

from __future__ import annotations

from stom_tui.screens.confirm import Confirmation, ConfirmScreen
from stom_tui.screens.help import HelpScreen, KeyHelp
from stom_tui.screens.order_ticket import OrderTicket

__all__ = ["ConfirmScreen", "Confirmation", "HelpScreen", "KeyHelp", "OrderTicket"]
