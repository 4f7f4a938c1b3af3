"""The help modal: every key binding with its description and its id (for ``[app.keymap]``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One binding as the user sees it."""

    keys: str
    description: str
    binding_id: str


class HelpScreen(ModalScreen[None]):
    """Lists the bindings it is given (scrolling when they do not fit). Escape or ``?`` closes it;
    ``q`` quits as everywhere."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "dismiss", "Close help", id="close_help"),
        # Same id as the app's quit binding, so a keymap remap moves both.
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self, bindings: Iterable[KeyHelp]) -> None:
        super().__init__()
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-panel") as panel:
            panel.border_title = "Keys"
            panel.border_subtitle = "Esc closes"
            yield Static(self._table(), id="help-table")
            yield Static(
                'Remap a key in config.toml: [app.keymap] binding id = "keys", '
                'e.g. quit = "ctrl+q".',
                id="help-hint",
            )

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action", ratio=1)
        table.add_column("Binding id", style="dim", no_wrap=True)
        for entry in self.bindings:
            table.add_row(entry.keys, entry.description, entry.binding_id)
        return table
