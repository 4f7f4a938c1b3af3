"""The session's modals: quitting a console whose engine still has work open, and an engine that
failed to start (:mod:`stom_tui.controllers.session` decides when they show)."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from stom_tui.health import EngineFailure

_PANEL_CSS = """
    align: center middle;
    .session-panel {
        width: 78;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $error;
        background: $surface;
        padding: 0 1;
    }
    .session-buttons {
        height: auto;
        margin-top: 1;
    }
    .session-buttons Button {
        margin-right: 2;
    }
"""

QuitChoice = Literal["stop", "detach"]
"""Stop the engine this console started, or leave it running (None: stay in the console)."""


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Quit with work open: ``s`` stops the engine, ``d`` leaves it running, Escape stays."""

    DEFAULT_CSS = "QuitScreen {" + _PANEL_CSS + "}"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "choose('stop')", "Stop the engine", id="quit_stop_engine"),
        Binding("d", "choose('detach')", "Leave it running", id="quit_detach"),
        Binding("escape", "choose(None)", "Cancel", id="quit_cancel", priority=True),
    ]

    def __init__(self, engine_label: str, open_work: list[str], attach_hint: str) -> None:
        super().__init__(id="quit-screen")
        self.engine_label = engine_label
        self.open_work = open_work
        self.attach_hint = attach_hint

    def compose(self) -> ComposeResult:
        work = "\n".join(f"  • {line}" for line in self.open_work)
        body = (
            f"This console started {self.engine_label}, and it has work open:\n{work}\n\n"
            "Stop the engine: it stops cleanly; its strategies and runs stop with it.\n"
            f"Leave it running: only this console quits. {self.attach_hint}"
        )
        with Vertical(id="quit-panel", classes="session-panel") as panel:
            panel.border_title = "Quit STOM"
            yield Static(body, id="quit-body")
            with Horizontal(classes="session-buttons"):
                yield Button("Stop the engine  s", id="quit-stop", variant="error", compact=True)
                yield Button("Leave it running  d", id="quit-detach", compact=True)
                yield Button("Cancel  Esc", id="quit-cancel", compact=True)

    def on_mount(self) -> None:
        # Enter on the default does nothing harmful: it stays in the console.
        self.query_one("#quit-cancel", Button).focus()

    def action_choose(self, choice: QuitChoice | None) -> None:
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choices: dict[str | None, QuitChoice | None] = {
            "quit-stop": "stop",
            "quit-detach": "detach",
        }
        self.dismiss(choices.get(event.button.id))


class EngineFailedScreen(ModalScreen[None]):
    """Why the engine did not start: the reason, its log line, the log file and what to do.
    Escape or Enter closes it (the status line keeps the reason); ``q`` quits."""

    DEFAULT_CSS = "EngineFailedScreen {" + _PANEL_CSS + "}"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Close", id="engine_failed_close"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self, failure: EngineFailure) -> None:
        super().__init__(id="engine-failed-screen")
        self.failure = failure

    def compose(self) -> ComposeResult:
        with Vertical(id="engine-failed-panel", classes="session-panel") as panel:
            panel.border_title = _failure_title(self.failure)
            yield Static(_failure_text(self.failure), id="engine-failed-body", markup=False)
            with Horizontal(classes="session-buttons"):
                yield Button("Close  Esc", id="engine-failed-close", compact=True)
                yield Button("Quit  q", id="engine-failed-quit", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#engine-failed-close", Button).focus()

    def show_failure(self, failure: EngineFailure) -> None:
        """Show a newer account of the failure (the process has exited since, say)."""
        self.failure = failure
        self.query_one("#engine-failed-panel").border_title = _failure_title(failure)
        self.query_one("#engine-failed-body", Static).update(_failure_text(failure))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "engine-failed-quit":
            self.app.call_next(self.app.run_action, "app.quit")
        else:
            self.dismiss(None)


def _failure_title(failure: EngineFailure) -> str:
    return "The engine failed to start" if failure.exited else "The engine reports an error"


def _failure_text(failure: EngineFailure) -> str:
    lines = [failure.reason, ""]
    if failure.log_line:
        lines += ["Log line:", f"  {failure.log_line}", ""]
    if failure.log_path:
        lines += [f"Log file: {failure.log_path}", ""]
    lines.append(f"What to do: {failure.hint}")
    return "\n".join(lines)
