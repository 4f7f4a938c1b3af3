"""The log's search prompt: one line of text at the bottom of the screen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Input

from stom_tui.widgets.steady_input import SteadyInput


class LogSearchScreen(ModalScreen[str | None]):
    """Enter searches the log for the text typed; Escape backs out."""

    DEFAULT_CSS = """
    LogSearchScreen {
        align: left bottom;
        background: $background 0%;
    }
    LogSearchScreen > Input {
        width: 100%;
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Back", id="log_search_back"),
    ]

    def __init__(self, text: str = "") -> None:
        super().__init__(id="log-search")
        self.text = text

    def compose(self) -> ComposeResult:
        yield SteadyInput(self.text, placeholder="Search the log (Enter finds, Esc backs out)")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
