"""What the walk-forward and Monte Carlo screens share: starting a run from the form (ctrl+r or
the ``.rs-run`` button), commands to the engine with their failures shown in the screen's status
line, and following a run by asking for its status.

A run's progress is published retained by the engine (``walkforward/progress``,
``montecarlo/progress``); the console reads it with the ``*.status`` commands, once when the
screen opens and every :data:`FOLLOW_S` while a run it shows is going, and hands it to the
screen's :meth:`ResearchScreen.show_progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import msgspec
from textual import on, work
from textual.screen import Screen
from textual.widgets import Button, Static

from engine.protocol.payloads import Reply

COMMAND_TIMEOUT_S = 5.0
FOLLOW_S = 1.0
"""How often a going run's status is asked for."""
RUNNING_STATES = frozenset({"starting", "running"})

Request = Callable[..., Any]
"""The feed's ``request(type, args, timeout=...)``: a command to the engine, its reply."""

P = TypeVar("P", bound=msgspec.Struct)


class ResearchScreen(Screen[None], Generic[P]):
    """A screen that starts one kind of engine run and follows it (see the module docstring).

    Subclasses set ``RUN_COMMAND``, ``STATUS_COMMAND`` and ``PROGRESS`` and implement
    :meth:`run_args` and :meth:`show_progress`.
    """

    RUN_COMMAND: ClassVar[str]
    STATUS_COMMAND: ClassVar[str]
    PROGRESS: ClassVar[type[msgspec.Struct]]
    CSS_PATH = "../styles/research.tcss"

    def __init__(self, request: Request, progress: P | None = None) -> None:
        super().__init__()
        self.request = request
        self.progress: P | None = progress
        self._following = False

    def on_mount(self) -> None:
        if self.progress is not None:
            self.show_progress(self.progress)
        self.set_interval(FOLLOW_S, self._tick)
        self.follow()

    def show_progress(self, progress: P) -> None:
        """Show a run's progress (from the status command, or pushed by the app)."""
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)

    # --- starting a run -----------------------------------------------------------------------

    def run_args(self) -> dict[str, Any] | None:
        """``RUN_COMMAND``'s arguments from the form, or None (the problem is shown)."""
        raise NotImplementedError

    def action_run(self) -> None:
        args = self.run_args()
        if args is not None:
            self.send_run(args)

    @on(Button.Pressed, ".rs-run")
    def run_pressed(self) -> None:
        self.action_run()

    @work(group="research-run", exclusive=True)
    async def send_run(self, args: dict[str, Any]) -> None:
        reply = await self.ask(self.RUN_COMMAND, args)
        if reply is None:
            return
        if reply.status != "accepted" or reply.result is None:
            self.say(f"Not started: {reply.reason}", error=True)
            return
        result = reply.result
        self.say(f"{result.get('run_id', '?')} started: {result.get('name', '?')}")
        self.start_following()

    # --- following a run ----------------------------------------------------------------------

    def _tick(self) -> None:
        state = getattr(self.progress, "state", None)
        if self._following or state in RUNNING_STATES:
            self.follow()

    @work(group="research-follow", exclusive=True)
    async def follow(self) -> None:
        reply = await self.ask(self.STATUS_COMMAND, {})
        if reply is None or reply.status != "accepted" or reply.result is None:
            return
        raw = reply.result.get("progress")
        if raw is None:
            return
        try:
            progress = msgspec.convert(raw, self.PROGRESS)
        except msgspec.ValidationError as exc:
            self.say(f"unreadable {self.STATUS_COMMAND} reply: {exc}", error=True)
            return
        if progress != self.progress:
            self.show_progress(progress)  # type: ignore[arg-type]
        self._following = getattr(progress, "state", None) in RUNNING_STATES

    def start_following(self) -> None:
        """A run was accepted: follow it until it ends."""
        self._following = True
        self.follow()

    # --- commands and the status line ---------------------------------------------------------

    async def ask(self, type_: str, args: dict[str, Any]) -> Reply | None:
        """The engine's reply, or None (said in the status line) when none came."""
        try:
            reply: Reply = await self.request(type_, args, timeout=COMMAND_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            self.say(f"{type_}: no answer from the engine ({exc or 'timeout'})", error=True)
            return None
        return reply

    def say(self, text: str, *, error: bool = False) -> None:
        status = self.query_one(".rs-status", Static)
        status.update(text)
        status.set_class(error, "-error")
