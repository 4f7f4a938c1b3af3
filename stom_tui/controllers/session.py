"""The console's session: quitting (and leaving the engine running), arming a live venue, and
an engine that failed to start.

A plain object owned by the app (:attr:`stom_tui.app.StomApp.session`):

- ``q`` (:meth:`SessionController.quit`): a console that started its engine asks first when the
  engine has orders or positions open, strategies running or a backtest/optimization going,
  and offers to stop the engine, leave it running (detach) or stay. Otherwise, or when attached
  to someone else's engine (which it never stops), it quits at once.
- ``a`` (:meth:`SessionController.arm`): arm a live venue for real orders behind a confirm that
  names venue and mode; disarm when it is armed. Paper venues need no arming.
- The engine this console started is watched until it reports ``running``
  (:meth:`own_engine`); a start failure is shown within a fraction of a second
  (:meth:`engine_failed`): reason, log line, log file and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from engine.protocol.codec import DecodeError
from engine.protocol.results import ArmResult, result_of
from stom_tui.formatting import parse_decimal
from stom_tui.health import EngineFailure, OwnedEngine, VenueMode
from stom_tui.screens.confirm import Confirmation, ConfirmScreen
from stom_tui.screens.session import EngineFailedScreen, QuitChoice, QuitScreen

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    from engine.protocol.optimize import OptimizeProgress
    from engine.protocol.payloads import InstrumentInfo
    from engine.protocol.strategies import BacktestProgress
    from stom_tui.feed import Feed
    from stom_tui.health import EnginePresence
    from stom_tui.widgets.log import LogPane
    from stom_tui.widgets.orders import OrdersPane
    from stom_tui.widgets.positions import PositionsPane
    from stom_tui.widgets.status_line import StatusLine
    from stom_tui.widgets.strategies import StrategiesPane

COMMAND_TIMEOUT_S = 3.0
WATCH_INTERVAL_S = 0.1
"""How often the engine this console started is checked while it starts."""


class SessionScreen(Protocol):
    """The panes of the main screen the session reads and writes."""

    @property
    def status_line(self) -> StatusLine: ...
    @property
    def log_pane(self) -> LogPane: ...
    @property
    def orders_pane(self) -> OrdersPane: ...
    @property
    def positions_pane(self) -> PositionsPane: ...
    @property
    def strategies_pane(self) -> StrategiesPane: ...


class SessionRuns(Protocol):
    """Where the app keeps the newest backtest and optimization progress."""

    @property
    def backtest_progress(self) -> BacktestProgress | None: ...
    @property
    def optimize_progress(self) -> OptimizeProgress | None: ...


class SessionHost(Protocol):
    """What the session needs of the app besides Textual's ``App`` (StomApp has it all).
    Written as a protocol so this module never imports the app (no import circle)."""

    @property
    def main(self) -> SessionScreen: ...
    @property
    def strategies(self) -> SessionRuns: ...
    @property
    def presence(self) -> EnginePresence: ...
    @property
    def feed(self) -> Feed: ...
    @property
    def instruments(self) -> dict[str, InstrumentInfo]: ...
    @property
    def selected_instrument(self) -> str | None: ...
    @property
    def clock(self) -> Callable[[], int]: ...


@dataclass(frozen=True, slots=True)
class OpenWork:
    """What the engine has open or running, as this console last saw it."""

    orders: int = 0
    positions: tuple[str, ...] = ()
    """Instruments with a non-zero position."""
    strategies: int = 0
    """Strategies running."""
    runs: tuple[str, ...] = ()
    """Backtests and optimizations under way (``backtest bt-1``)."""

    def __bool__(self) -> bool:
        return bool(self.orders or self.positions or self.strategies or self.runs)

    def lines(self) -> list[str]:
        """One line per kind of work, for the quit confirm."""
        lines = []
        if self.orders:
            lines.append(_count(self.orders, "open order"))
        if self.positions:
            shown = ", ".join(self.positions[:4]) + (" …" if len(self.positions) > 4 else "")
            lines.append(f"{_count(len(self.positions), 'open position')}: {shown}")
        if self.strategies:
            lines.append(_count(self.strategies, "running strategy", "running strategies"))
        lines += [f"{run} running" for run in self.runs]
        return lines


class SessionController:
    """Quit, detach, arm, and the engine's start failures (see the module docstring)."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.host = cast(SessionHost, app)
        self.engine: OwnedEngine | None = None
        """The engine this console started; None when attached to (or waiting for) another."""
        self.failure: EngineFailure | None = None
        self._watch: Timer | None = None
        self._failure_screen: EngineFailedScreen | None = None

    # --- the engine this console started --------------------------------------------------------

    def own_engine(self, engine: OwnedEngine) -> None:
        """This console started ``engine``: ``q`` asks before stopping it, and its start is
        watched (from the app's first turn: this may be called before the app runs)."""
        self.engine = engine
        self.app.call_later(self.start)

    def start(self) -> None:
        """Begin watching the engine this console started (idempotent)."""
        if self.engine is None or self._watch is not None:
            return
        self._watch = self.app.set_interval(WATCH_INTERVAL_S, self.watch_engine, name="engine")
        self.watch_engine()

    def watch_engine(self) -> None:
        """One check: the engine said running (stop watching), or it failed (say so)."""
        engine = self.engine
        if engine is None:
            return
        status = self.host.presence.status
        if (
            status is not None
            and status.state in ("running", "degraded")
            and status.pid in (None, engine.pid)
        ):
            engine.mark_running()
            if self._watch is not None:
                self._watch.stop()
            if self.failure is not None:
                self._clear_failure(f"engine {status.engine_id} is running after all")
            return
        failure = engine.failure()
        if failure is not None and failure != self.failure:
            self.show_failure(failure)
        if failure is not None and failure.exited and self._watch is not None:
            self._watch.stop()  # the process is gone: nothing more will come

    def engine_failed(
        self, reason: str, log_line: str | None, hint: str, *, log_path: str = ""
    ) -> None:
        """Show at once why the engine failed to start (status line, log and a modal)."""
        self.show_failure(EngineFailure(reason, log_line, log_path, hint))

    def show_failure(self, failure: EngineFailure) -> None:
        """The status line says ENGINE FAILED with the reason, the log gets the reason, the
        engine's log line, its file and the hint, and a modal shows them all (updated in place
        when a newer account of the same start arrives)."""
        self.failure = failure
        main = self.host.main
        main.status_line.show_engine_failure(failure.reason)
        now = self.host.clock()
        main.log_pane.add_notice(now, "error", failure.reason)
        if failure.log_line:
            main.log_pane.add_notice(now, "error", f"engine log: {failure.log_line}")
        if failure.log_path:
            main.log_pane.add_notice(now, "info", f"engine log file: {failure.log_path}")
        main.log_pane.add_notice(now, "info", failure.hint)
        screen = self._failure_screen
        if screen is not None and screen.is_attached:
            screen.show_failure(failure)
            return
        self._failure_screen = EngineFailedScreen(failure)
        self.app.push_screen(self._failure_screen)

    def _clear_failure(self, text: str) -> None:
        self.failure = None
        self.host.main.status_line.show_engine_failure(None)
        self.host.main.log_pane.add_notice(self.host.clock(), "info", text)
        screen = self._failure_screen
        if screen is not None and screen.is_attached and self.app.screen is screen:
            screen.dismiss(None)
        self._failure_screen = None

    # --- q ------------------------------------------------------------------------------------

    def open_work(self) -> OpenWork:
        """What would stop with the engine, from what the panes and the feed show."""
        main = self.host.main
        positions = tuple(
            instrument_id
            for instrument_id, row in main.positions_pane.positions.items()
            if _non_zero(row.quantity)
        )
        runs = []
        backtest = self.host.strategies.backtest_progress
        if backtest is not None and backtest.state in ("starting", "running"):
            runs.append(f"backtest {backtest.run_id}")
        optimize = self.host.strategies.optimize_progress
        if optimize is not None and optimize.state in ("starting", "running"):
            runs.append(f"optimization {optimize.study}")
        return OpenWork(
            orders=main.orders_pane.open_count,
            positions=positions,
            strategies=main.strategies_pane.running_count,
            runs=tuple(runs),
        )

    async def quit(self) -> None:
        """``q``: quit at once, or ask first (see the module docstring)."""
        engine = self.engine
        if isinstance(self.app.screen, QuitScreen):
            return
        if engine is None or (self.failure is not None and self.failure.exited):
            self.app.exit()  # attached (never stopped from here), or nothing left to stop
            return
        work = self.open_work()
        if not work:
            self.app.exit()  # the launcher stops the engine it started
            return
        screen = QuitScreen(
            f"the engine (pid {engine.pid})",
            work.lines(),
            "Run stom again with the same options to attach to it.",
        )
        self.app.push_screen(screen, callback=self._quit_chosen)

    def _quit_chosen(self, choice: QuitChoice | None) -> None:
        if choice is None:
            return
        if choice == "detach" and self.engine is not None:
            self.engine.detach()
        self.app.exit()

    # --- a ------------------------------------------------------------------------------------

    def venue_modes(self) -> list[VenueMode]:
        """Every venue of the engine with its mode and arming, as the status line shows them."""
        return self.host.main.status_line.venue_modes()

    async def arm(self) -> None:
        """``a``: arm the live venue of the selected instrument (or the only live one) behind a
        confirm; disarm it when it is armed."""
        live = [mode for mode in self.venue_modes() if mode.mode == "live"]
        if not live:
            self.app.notify(
                "Every venue trades on paper: nothing to arm. A venue sends real orders only "
                'with [venues.NAME] mode = "live" (and its keys).',
                severity="warning",
                markup=False,
            )
            return
        venue = self._venue_to_arm(live)
        if venue.armed:
            screen = ConfirmScreen(
                f"Disarm {venue.venue}",
                f"Block real orders on {venue.venue} (LIVE): new orders there are denied until "
                "it is armed again. Open orders stay.",
                f"Disarm {venue.venue}",
                id="confirm-disarm",
            )
        else:
            screen = ConfirmScreen(
                f"Arm {venue.venue}",
                f"Arm live orders on {venue.venue} — real money. Orders on {venue.venue} go to "
                "the venue itself (mode live) until you disarm it (a again) or the engine "
                "restarts.",
                f"Arm {venue.venue}",
                id="confirm-arm",
            )

        def confirmed(confirmation: Confirmation | None) -> None:
            if confirmation is not None:
                command = "disarm" if venue.armed else "arm"
                self.app.run_worker(self._send_arm(command, venue.venue), group="session")

        self.app.push_screen(screen, callback=confirmed)

    def _venue_to_arm(self, live: list[VenueMode]) -> VenueMode:
        selected = self.host.selected_instrument
        info = self.host.instruments.get(selected) if selected else None
        for mode in live:
            if info is not None and mode.venue == info.venue.upper():
                return mode
        return next((mode for mode in live if not mode.armed), live[0])

    async def _send_arm(self, command: str, venue: str) -> None:
        try:
            reply = await self.host.feed.request(
                command, {"venue": venue}, timeout=COMMAND_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError) as exc:
            text = f"{command} {venue}: no answer from the engine ({exc or 'timeout'})"
            self.app.notify(text, severity="error", markup=False)
            return
        if reply.status != "accepted":
            text = f"{command} {venue}: {reply.reason or 'rejected'}"
            self.app.notify(text, severity="error", markup=False)
            return
        try:
            armed = result_of(reply, ArmResult).armed_venues
        except DecodeError as exc:
            text = f"{command} {venue}: unreadable reply ({exc})"
            self.app.notify(text, severity="error", markup=False)
            return
        state = "armed: real orders allowed" if venue in armed else "disarmed: real orders blocked"
        if venue in armed:
            self.app.notify(f"{venue} {state}", severity="warning", markup=False)
        else:
            self.app.notify(f"{venue} {state}", markup=False)
        self.host.main.log_pane.add_notice(self.host.clock(), "warning", f"{venue} {state}")


def _count(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _non_zero(text: str) -> bool:
    return bool(parse_decimal(text))
