"""The backtest screen: choose a strategy file, instruments, days and parameters; run it in the
engine's worker process; follow the progress; read the result; reopen earlier results.

Everything goes through commands (``strategy.list``, ``strategy.describe``, ``backtest.list``,
``backtest.run``, ``backtest.result``); progress arrives from the bus (``backtest/progress``)
through the app, which hands it to :meth:`BacktestScreen.show_progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import msgspec
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    ProgressBar,
    Select,
    SelectionList,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from engine.protocol.payloads import Reply
from engine.protocol.strategies import (
    BacktestListing,
    BacktestProgress,
    BacktestResult,
    DatasetInfo,
    ParamInfo,
)
from stom_tui.backtest_text import (
    TRADE_COLUMNS,
    format_params,
    metrics_table,
    parse_params,
    result_title,
    run_state,
    trade_row,
)
from stom_tui.formatting import format_clock, format_money
from stom_tui.screens.montecarlo import MonteCarloScreen
from stom_tui.widgets.check_list import CheckList
from stom_tui.widgets.footer import KeyFooter
from stom_tui.widgets.sortable_table import SortableTable, SortColumn, SortRow
from stom_tui.widgets.status_mirror import StatusMirror
from stom_tui.widgets.steady_input import SteadyInput

COMMAND_TIMEOUT_S = 5.0

Request = Callable[..., Any]

HISTORY_COLUMNS = (
    SortColumn("Result"),
    SortColumn("Strategy"),
    SortColumn("PnL", numeric=True),
    SortColumn("Return", numeric=True),
    SortColumn("Trades", numeric=True),
    SortColumn("Days"),
)


class BacktestScreen(Screen[None]):
    """Run and review backtests (``r`` on the main screen; Escape goes back)."""

    CSS_PATH = "../styles/research.tcss"
    COMPONENT_CLASSES: ClassVar[set[str]] = {"backtest--profit", "backtest--loss"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="backtest_close"),
        Binding("ctrl+r", "run", "Run", id="backtest_run", priority=True),
        Binding("f1", "show_tab('bt-setup')", "Setup", id="backtest_setup_tab"),
        Binding("f2", "show_tab('bt-result')", "Result", id="backtest_result_tab"),
        Binding("f3", "show_tab('bt-history')", "History", id="backtest_history_tab"),
        Binding("m", "montecarlo", "Monte Carlo", id="backtest_montecarlo"),
    ]

    def __init__(self, request: Request, progress: BacktestProgress | None = None) -> None:
        super().__init__()
        self.request = request
        """The feed's ``request(type, args, timeout)``: commands to the engine."""
        self.progress = progress
        self.run_id: str | None = None
        self.datasets: list[DatasetInfo] = []
        self.results: list[BacktestListing] = []
        self.result: BacktestResult | None = None
        self.params: list[ParamInfo] = []

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with TabbedContent(id="bt-tabs", initial="bt-setup"):
            with TabPane("Setup", id="bt-setup"), VerticalScroll(id="bt-form"):
                with Horizontal(classes="bt-row"):
                    yield Label("Strategy", classes="bt-label")
                    yield Select[str]([], id="bt-strategy", compact=True, prompt="choose a file")
                with Horizontal(classes="bt-row"):
                    yield Label("From / to", classes="bt-label")
                    yield SteadyInput(placeholder="YYYY-MM-DD", id="bt-from", compact=True)
                    yield SteadyInput(placeholder="YYYY-MM-DD", id="bt-to", compact=True)
                with Horizontal(classes="bt-row"):
                    yield Label("Parameters", classes="bt-label")
                    yield SteadyInput(placeholder="name=value …", id="bt-params", compact=True)
                yield Static("", id="bt-param-help")
                yield Label("Instruments (space ticks one)", id="bt-instruments-label")
                yield CheckList(id="bt-instruments", compact=True)
                with Horizontal(id="bt-run-row"):
                    yield Button("Run  ctrl+r", id="bt-run", variant="primary", compact=True)
                    yield ProgressBar(id="bt-progress", show_eta=False)
                yield Static("", id="bt-status")
            with TabPane("Result", id="bt-result"), Vertical():
                yield Static(
                    "No result yet: run a backtest or open one from History.", id="bt-title"
                )
                yield Static("", id="bt-metrics")
                yield Sparkline([], id="bt-equity")
                # Newest exit first; < > choose another column, r reverses.
                yield SortableTable(TRADE_COLUMNS, sort_column=0, reverse=True, id="bt-trades")
            with TabPane("History", id="bt-history"):
                yield SortableTable(HISTORY_COLUMNS, id="bt-results")
        yield StatusMirror()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#bt-progress", ProgressBar).update(total=1, progress=0)
        if self.progress is not None:
            self.show_progress(self.progress)
        self.load_choices()

    # --- loading choices ----------------------------------------------------------------------

    @work(group="backtest", exclusive=False)
    async def load_choices(self) -> None:
        strategies = await self._ask("strategy.list", {})
        if strategies is not None and strategies.result is not None:
            files = [str(name) for name in strategies.result.get("files", [])]
            self.query_one("#bt-strategy", Select).set_options((name, name) for name in files)
            if files:
                self.query_one("#bt-strategy", Select).value = files[0]
        await self.refresh_history()

    async def refresh_history(self) -> None:
        listing = await self._ask("backtest.list", {})
        if listing is None or listing.result is None:
            return
        self.datasets = msgspec.convert(listing.result.get("datasets", []), list[DatasetInfo])
        self.results = msgspec.convert(listing.result.get("results", []), list[BacktestListing])
        instruments = self.query_one("#bt-instruments", CheckList)
        chosen = set(instruments.selected)
        instruments.clear_options()
        for n, dataset in enumerate(self.datasets):
            label = f"{dataset.instrument_id}  {dataset.first_day} … {dataset.last_day}"
            selected = dataset.instrument_id in chosen or (not chosen and n == 0)
            instruments.add_option((label, dataset.instrument_id, selected))
        self.count_instruments()
        if self.datasets:
            start = self.query_one("#bt-from", Input)
            end = self.query_one("#bt-to", Input)
            if not start.value:
                start.value = min(d.first_day for d in self.datasets)
            if not end.value:
                end.value = max(d.last_day for d in self.datasets)
        else:
            self._status("No recorded data: run `stom data sample` or record with the engine.")
        self.query_one("#bt-results", SortableTable).set_rows(
            [
                SortRow(
                    row.id,
                    [
                        row.id,
                        row.strategy,
                        Text(format_money(row.pnl, signed=True), justify="right"),
                        Text(f"{row.total_return:+.2%}", justify="right"),
                        Text(str(row.trades), justify="right"),
                        f"{row.start or '…'} – {row.end or '…'}",
                    ],
                    [
                        row.id,
                        row.strategy,
                        float(row.pnl),
                        row.total_return,
                        row.trades,
                        row.start or "",
                    ],
                )
                for row in self.results
            ]
        )

    @on(SelectionList.SelectedChanged, "#bt-instruments")
    def count_instruments(self) -> None:
        """The heading says how many are ticked (the ticks may be scrolled out of view)."""
        instruments = self.query_one("#bt-instruments", CheckList)
        chosen, total = len(instruments.selected), instruments.option_count
        self.query_one("#bt-instruments-label", Label).update(
            f"Instruments: {chosen} of {total} ticked (space ticks the highlighted one)"
        )

    @on(Select.Changed, "#bt-strategy")
    def strategy_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.describe(event.value)

    @work(group="describe", exclusive=True)
    async def describe(self, file: str) -> None:
        reply = await self._ask("strategy.describe", {"file": file})
        help_text = self.query_one("#bt-param-help", Static)
        if reply is None:
            return
        if reply.status != "accepted" or reply.result is None:
            help_text.update(Text(reply.reason or "cannot load the file", style="bold red"))
            self.params = []
            return
        self.params = msgspec.convert(reply.result.get("params", []), list[ParamInfo])
        help_text.update(Text(format_params(self.params), style="dim"))
        self.query_one("#bt-params", Input).value = " ".join(
            f"{p.name}={p.value}" for p in self.params
        )

    # --- running ------------------------------------------------------------------------------

    def action_run(self) -> None:
        self.start_run()

    @on(Button.Pressed, "#bt-run")
    def run_pressed(self) -> None:
        self.start_run()

    def start_run(self) -> None:
        strategy = self.query_one("#bt-strategy", Select).value
        if not isinstance(strategy, str):
            self._status("Choose a strategy file first.", error=True)
            return
        try:
            params = parse_params(self.query_one("#bt-params", Input).value)
        except ValueError as exc:
            self._status(f"Parameters: {exc}", error=True)
            return
        args = {
            "strategy": strategy,
            "instruments": list(self.query_one("#bt-instruments", CheckList).selected),
            "start": self.query_one("#bt-from", Input).value.strip() or None,
            "end": self.query_one("#bt-to", Input).value.strip() or None,
            "params": params,
        }
        self.send_run(args)

    @work(group="backtest-run", exclusive=True)
    async def send_run(self, args: dict[str, Any]) -> None:
        reply = await self._ask("backtest.run", args)
        if reply is None:
            return
        if reply.status != "accepted" or reply.result is None:
            self._status(f"Not started: {reply.reason}", error=True)
            return
        self.run_id = str(reply.result.get("run_id"))
        self.query_one("#bt-progress", ProgressBar).update(total=1, progress=0)
        self._status(f"Run {self.run_id} started: {args['strategy']}")

    def show_progress(self, progress: BacktestProgress) -> None:
        """From the bus (through the app): move the bar; on ``done`` open the result."""
        previous = self.progress
        self.progress = progress
        if self.run_id is not None and progress.run_id != self.run_id:
            return  # another console's run
        bar = self.query_one("#bt-progress", ProgressBar)
        if progress.total:
            bar.update(total=progress.total, progress=progress.done)
        state = run_state(progress)
        if progress.state == "running":
            self._status(f"Run {progress.run_id}: {progress.done:,} of {progress.total:,} rows")
        elif state == "cancelled":
            self._status(f"Run {progress.run_id} cancelled")
        elif progress.state == "failed":
            self._status(f"Run {progress.run_id} failed: {progress.error}", error=True)
        elif progress.state == "done" and progress.result_id:
            self._status(f"Run {progress.run_id} finished: {progress.result_id}")
            if previous is None or previous.result_id != progress.result_id:
                self.open_result(progress.result_id)

    @work(group="backtest-result", exclusive=True)
    async def open_result(self, result_id: str) -> None:
        reply = await self._ask("backtest.result", {"id": result_id})
        if reply is None:
            return
        if reply.status != "accepted" or reply.result is None:
            self._status(f"Cannot open {result_id}: {reply.reason}", error=True)
            return
        self.show_result(msgspec.convert(reply.result, BacktestResult))
        await self.refresh_history()

    def show_result(self, result: BacktestResult) -> None:
        self.result = result
        self.query_one("#bt-title", Static).update(result_title(result))
        self.query_one("#bt-metrics", Static).update(metrics_table(result))
        self.query_one("#bt-equity", Sparkline).data = [equity for _, equity in result.equity]
        profit, loss = self._style("profit"), self._style("loss")
        self.query_one("#bt-trades", SortableTable).set_rows(
            [
                trade_row(str(n), trade, format_clock, profit, loss)
                for n, trade in enumerate(result.trades)
            ]
        )
        self.query_one("#bt-tabs", TabbedContent).active = "bt-result"

    @on(DataTable.RowSelected, "#bt-results")
    def history_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_result(event.row_key.value)

    # --- helpers ------------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#bt-tabs", TabbedContent).active = tab

    def action_montecarlo(self) -> None:
        """The Monte Carlo screen, on the result shown (or the newest one)."""
        result_id = self.result.id if self.result is not None else None
        self.app.push_screen(MonteCarloScreen(self.request, result_id=result_id))

    def action_close(self) -> None:
        self.dismiss(None)

    async def _ask(self, type_: str, args: dict[str, Any]) -> Reply | None:
        try:
            return await self.request(type_, args, timeout=COMMAND_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            self._status(f"{type_}: no answer from the engine ({exc or 'timeout'})", error=True)
            return None

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"backtest--{name}", partial=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#bt-status", Static)
        status.update(Text(text, style="bold red" if error else ""))
