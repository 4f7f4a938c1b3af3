"""The optimization screen: choose a strategy file, the method, the objective, the budget and
the parameter ranges; run it in the engine's worker processes; follow the progress and the
leaderboard; apply a row's parameters to the running strategy (after a confirm).

Everything goes through commands (``strategy.list``, ``optimize.run``, ``optimize.cancel``,
``strategy.params``); progress arrives from the bus (``optimize/progress``) through the app,
which hands it to :meth:`OptimizeScreen.show_progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static

from engine.protocol.optimize import OptimizeProgress, TrialInfo
from engine.protocol.payloads import Reply
from stom_tui.screens.confirm import Confirmation, ConfirmScreen
from stom_tui.screens.walkforward import WalkForwardScreen
from stom_tui.search_text import OBJECTIVES, format_params, parse_ranges
from stom_tui.widgets.footer import KeyFooter
from stom_tui.widgets.sortable_table import SortableTable, SortColumn, SortRow, SortValue
from stom_tui.widgets.status_mirror import StatusMirror
from stom_tui.widgets.steady_input import SteadyInput

COMMAND_TIMEOUT_S = 5.0
METHODS = (("genetic algorithm", "ga"), ("grid", "grid"), ("random", "random"))

Request = Callable[..., Any]
StrategyIds = Callable[[str], list[str]]
"""The ids of the engine's strategies that run a given file (from the Strategies pane)."""

BOARD_COLUMNS = (
    SortColumn("#", numeric=True),
    SortColumn("Score", numeric=True),
    SortColumn("Return", numeric=True),
    SortColumn("Drawdown", numeric=True),
    SortColumn("Trades", numeric=True),
    SortColumn("Parameters"),
    SortColumn("Why infeasible"),
)
"""Figures first, so score, return, drawdown and trades fit 80 columns; the parameters and the
reason follow (left/right scroll to them)."""

STATE_WORDS = {"done": "finished", "cancelled": "cancelled (resumable)", "failed": "failed"}


class OptimizeScreen(Screen[None]):
    """Run optimizations and apply their results (``O`` on the main screen; Escape goes back)."""

    CSS_PATH: ClassVar[list[str | PurePath]] = [
        "../styles/optimize.tcss",
        "../styles/research.tcss",
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="optimize_close"),
        Binding("ctrl+r", "run", "Run", id="optimize_run", priority=True),
        Binding("ctrl+x", "cancel_run", "Stop", id="optimize_cancel", priority=True),
        Binding("a", "apply", "Apply to strategy", id="optimize_apply"),
        Binding("w", "walkforward", "Walk-forward", id="optimize_walkforward"),
    ]

    def __init__(
        self,
        request: Request,
        progress: OptimizeProgress | None = None,
        strategy_ids: StrategyIds | None = None,
    ) -> None:
        super().__init__()
        self.request = request
        """The feed's ``request(type, args, timeout)``: commands to the engine."""
        self.progress = progress
        self.strategy_ids = strategy_ids or (lambda file: [])
        self.leaders: list[TrialInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="opt-form"):
            with Horizontal(classes="opt-row"):
                yield Label("Strategy", classes="opt-label")
                yield Select[str]([], id="opt-strategy", compact=True, prompt="choose a file")
            with Horizontal(classes="opt-row"):
                yield Label("Method", classes="opt-label")
                yield Select(METHODS, id="opt-method", compact=True, value="ga", allow_blank=False)
                yield Label("Objective", classes="opt-label")
                yield Select(
                    ((name, name) for name in OBJECTIVES),
                    id="opt-objective",
                    compact=True,
                    value="sharpe",
                    allow_blank=False,
                )
            with Horizontal(classes="opt-row"):
                yield Label("Trials / seed", classes="opt-label")
                yield SteadyInput("100", id="opt-trials", compact=True, type="integer")
                yield SteadyInput("0", id="opt-seed", compact=True, type="integer")
                yield Label("Min trades", classes="opt-label")
                yield SteadyInput("0", id="opt-min-trades", compact=True, type="integer")
            with Horizontal(classes="opt-row"):
                yield Label("Ranges", classes="opt-label")
                yield SteadyInput(
                    placeholder="name=low:high:step name=value … (empty: declared ranges)",
                    id="opt-params",
                    compact=True,
                )
            with Horizontal(id="opt-run-row"):
                yield Button("Run  ctrl+r", id="opt-run", variant="primary", compact=True)
                yield ProgressBar(id="opt-progress", show_eta=False)
            yield Static("", id="opt-status")
        yield Label("Leaderboard: a applies the row; < > sort column, r reverses, ← → scroll")
        yield SortableTable(BOARD_COLUMNS, id="opt-board")
        yield StatusMirror()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#opt-progress", ProgressBar).update(total=1, progress=0)
        if self.progress is not None:
            self.show_progress(self.progress)
        self.load_choices()

    @work(group="optimize", exclusive=False)
    async def load_choices(self) -> None:
        reply = await self._ask("strategy.list", {})
        if reply is not None and reply.result is not None:
            files = [str(name) for name in reply.result.get("files", [])]
            select = self.query_one("#opt-strategy", Select)
            select.set_options((name, name) for name in files)
            if files:
                select.value = files[0]

    # --- running ------------------------------------------------------------------------------

    def action_run(self) -> None:
        self.start_run()

    @on(Button.Pressed, "#opt-run")
    def run_pressed(self) -> None:
        self.start_run()

    def start_run(self) -> None:
        strategy = self.query_one("#opt-strategy", Select).value
        if not isinstance(strategy, str):
            self._status("Choose a strategy file first.", error=True)
            return
        try:
            ranges = parse_ranges(self.query_one("#opt-params", Input).value)
            numbers = {
                key: int(self.query_one(f"#opt-{key.replace('_', '-')}", Input).value or "0")
                for key in ("trials", "seed", "min_trades")
            }
        except ValueError as exc:
            self._status(f"Ranges: {exc}", error=True)
            return
        args: dict[str, Any] = {
            "strategy": strategy,
            "method": self.query_one("#opt-method", Select).value,
            "objective": self.query_one("#opt-objective", Select).value,
            "params": ranges,
            **numbers,
        }
        self.send_run(args)

    @work(group="optimize", exclusive=True)
    async def send_run(self, args: dict[str, Any]) -> None:
        reply = await self._ask("optimize.run", args)
        if reply is None:
            return
        if reply.status != "accepted" or reply.result is None:
            self._status(reply.reason or "rejected", error=True)
            return
        self._status(f"{reply.result['run_id']} started: study {reply.result['study']}")

    def action_cancel_run(self) -> None:
        self.send_cancel()

    @work(group="optimize", exclusive=False)
    async def send_cancel(self) -> None:
        reply = await self._ask("optimize.cancel", {})
        if reply is not None and reply.status != "accepted":
            self._status(reply.reason or "rejected", error=True)

    def show_progress(self, progress: OptimizeProgress) -> None:
        self.progress = progress
        bar = self.query_one("#opt-progress", ProgressBar)
        bar.update(total=max(1, progress.total), progress=progress.done)
        state = STATE_WORDS.get(progress.state, progress.state)
        text = (
            f"{progress.run_id} {state}: {progress.done}/{progress.total} trials, "
            f"{progress.method} on {progress.objective} ({progress.strategy}, study "
            f"{progress.study})"
        )
        if progress.stopped:
            text += f"; stopped early: {progress.stopped}"
        if progress.error:
            text += f"; {progress.error}"
        self._status(text, error=progress.state == "failed")
        self.leaders = list(progress.leaderboard)
        with self.app.batch_update():
            self.query_one("#opt-board", SortableTable).set_rows(
                [board_row(rank, row) for rank, row in enumerate(self.leaders, 1)]
            )

    # --- applying -----------------------------------------------------------------------------

    def action_apply(self) -> None:
        table = self.query_one("#opt-board", SortableTable)
        shown = table.keys_in_order
        if self.progress is None or not self.leaders or table.cursor_row >= len(shown):
            self._status("No result to apply yet.", error=True)
            return
        row = self.leaders[int(shown[table.cursor_row]) - 1]
        if row.score is None:
            self._status(f"That row is infeasible ({row.reason}): choose another.", error=True)
            return
        file = Path(self.progress.strategy).name
        ids = self.strategy_ids(file)
        if not ids:
            self._status(f"No strategy of the engine runs {file}: nothing to apply to.", error=True)
            return
        params = dict(row.params)
        body = f"Set {format_params(params)} on {ids[0]}? It restarts with them, keeping its state."

        def confirmed(answer: Confirmation | None) -> None:
            if answer is not None:
                self.send_params(ids[0], params)

        self.app.push_screen(ConfirmScreen("Apply parameters", body, "Apply"), confirmed)

    @work(group="optimize", exclusive=False)
    async def send_params(self, strategy_id: str, params: dict[str, int | float]) -> None:
        reply = await self._ask("strategy.params", {"id": strategy_id, "params": params})
        if reply is None:
            return
        if reply.status != "accepted":
            self._status(f"{strategy_id}: {reply.reason}", error=True)
            return
        self._status(f"{strategy_id} now runs with {format_params(params)}")
        self.notify(f"{strategy_id}: parameters applied", markup=False)

    def action_walkforward(self) -> None:
        """The walk-forward screen, for the strategy file chosen here."""
        strategy = self.query_one("#opt-strategy", Select).value
        chosen = strategy if isinstance(strategy, str) else None
        self.app.push_screen(WalkForwardScreen(self.request, strategy=chosen))

    def action_close(self) -> None:
        self.dismiss()

    async def _ask(self, type_: str, args: dict[str, Any]) -> Reply | None:
        try:
            return await self.request(type_, args, timeout=COMMAND_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            self._status(f"no answer from the engine ({exc or 'timeout'})", error=True)
            return None

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#opt-status", Static)
        status.update(text)
        status.set_class(error, "-error")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def board_row(rank: int, row: TrialInfo) -> SortRow:
    """One leaderboard row (see :data:`BOARD_COLUMNS`); its key is its rank."""
    cells = [
        Text(str(rank), justify="right"),
        Text("infeasible" if row.score is None else f"{row.score:.4g}", justify="right"),
        Text(_pct(row.total_return), justify="right"),
        Text(_pct(row.max_drawdown), justify="right"),
        Text("-" if row.trades is None else str(row.trades), justify="right"),
        Text(format_params(row.params)),
        Text(row.reason),
    ]
    values: list[SortValue] = [
        rank,
        row.score,
        row.total_return,
        row.max_drawdown,
        row.trades,
        format_params(row.params),
        row.reason or None,
    ]
    return SortRow(str(rank), cells, values)
