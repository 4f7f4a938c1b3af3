"""A confirm step for dangerous actions (cancel all, kill switch), with an optional choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The user said yes; ``option`` is the extra choice (False when there is none)."""

    option: bool = False


class ConfirmScreen(ModalScreen[Confirmation | None]):
    """Enter (or the confirm button) confirms, Escape backs out; ``f`` toggles the option."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Confirm", id="confirm", priority=True),
        Binding("escape", "dismiss_none", "Back", id="confirm_back", priority=True),
        Binding("f", "toggle_option", "Toggle the option", id="confirm_option", show=False),
    ]

    def __init__(
        self,
        title: str,
        body: str,
        confirm_label: str,
        *,
        option_label: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.option_label = option_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-panel") as panel:
            panel.border_title = self.title_text
            yield Static(self.body, id="confirm-body")
            if self.option_label is not None:
                yield Checkbox(self.option_label, id="confirm-option", compact=True)
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    f"{self.confirm_label}  ⏎", id="confirm-yes", variant="error", compact=True
                )
                yield Button("Back  Esc", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    @property
    def option(self) -> bool:
        boxes = self.query("#confirm-option").results(Checkbox)
        return any(box.value for box in boxes)

    def action_confirm(self) -> None:
        self.dismiss(Confirmation(self.option))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_toggle_option(self) -> None:
        for box in self.query("#confirm-option").results(Checkbox):
            box.toggle()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-yes":
            self.action_confirm()
        else:
            self.action_dismiss_none()
