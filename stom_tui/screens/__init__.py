"""Modal and secondary screens."""

from __future__ import annotations

from stom_tui.screens.help import HelpScreen, KeyHelp

__all__ = ["HelpScreen", "KeyHelp"]
