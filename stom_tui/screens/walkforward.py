"""The walk-forward screen: optimize a strategy on each training window of recorded days, test
the best parameters on the days after it, and compare in-sample with out-of-sample per window.

The run is the engine's (``walkforward.run``, stopped with ``walkforward.cancel``); the screen
follows it with ``walkforward.status`` (see :mod:`stom_tui.screens.research`). Each finished
window is a row of the table (sortable, scrollable) and a bar of the chart: the walk-forward
efficiency per window, or in-sample against out-of-sample return (``c`` switches).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from engine.protocol.research import WalkForwardProgress, WindowInfo
from stom_tui.formatting import format_money
from stom_tui.screens.research import Request, ResearchScreen
from stom_tui.search_text import OBJECTIVES, format_params, parse_ranges
from stom_tui.widgets.footer import KeyFooter
from stom_tui.widgets.sortable_table import SortableTable, SortColumn, SortRow
from stom_tui.widgets.status_mirror import StatusMirror
from stom_tui.widgets.steady_input import SteadyInput

MODES = (("rolling", "rolling"), ("anchored", "anchored"), ("one split", "split"))
METHODS = (("grid", "grid"), ("random", "random"), ("genetic", "ga"))
STATE_WORDS = {"done": "finished", "cancelled": "cancelled (run it again to resume)"}
CHARTS = ("efficiency", "returns")

WINDOW_COLUMNS = (
    SortColumn("#", numeric=True),
    SortColumn("IS return", numeric=True),
    SortColumn("OOS return", numeric=True),
    SortColumn("WFE", numeric=True),
    SortColumn("IS trades", numeric=True),
    SortColumn("OOS trades", numeric=True),
    SortColumn("OOS PnL", numeric=True),
    SortColumn("IS Sharpe", numeric=True),
    SortColumn("OOS Sharpe", numeric=True),
    SortColumn("Train days"),
    SortColumn("Test days"),
    SortColumn("Best parameters"),
    SortColumn("Trials", numeric=True),
)
"""In-sample (IS) against out-of-sample (OOS) figures; WFE is this window's efficiency."""


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def window_row(window: WindowInfo) -> SortRow:
    """One window of the table (see :data:`WINDOW_COLUMNS`)."""
    ins, oos = window.in_sample, window.out_of_sample
    params = format_params(window.best_params)
    right = [
        str(window.number),
        pct(ins.total_return),
        pct(oos.total_return),
        ratio(window.efficiency),
        str(ins.trades),
        str(oos.trades),
        format_money(oos.pnl, signed=True),
        ratio(ins.sharpe),
        ratio(oos.sharpe),
    ]
    cells = [Text(text, justify="right") for text in right]
    cells += [Text(f"{ins.start} – {ins.end}"), Text(f"{oos.start} – {oos.end}"), Text(params)]
    cells.append(Text(str(window.trials), justify="right"))
    values = [
        window.number, ins.total_return, oos.total_return, window.efficiency, ins.trades,
        oos.trades, float(oos.pnl), ins.sharpe, oos.sharpe, ins.start, oos.start, params,
        window.trials,
    ]  # fmt: skip
    return SortRow(str(window.number), cells, values)


class WalkForwardScreen(ResearchScreen[WalkForwardProgress]):
    """Walk-forward runs and their windows (Escape goes back)."""

    RUN_COMMAND = "walkforward.run"
    STATUS_COMMAND = "walkforward.status"
    PROGRESS = WalkForwardProgress
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="walkforward_close"),
        Binding("ctrl+r", "run", "Run", id="walkforward_run", priority=True),
        Binding("ctrl+x", "cancel_run", "Stop", id="walkforward_cancel", priority=True),
        Binding("c", "next_chart", "Chart", id="walkforward_chart"),
    ]

    def __init__(
        self,
        request: Request,
        progress: WalkForwardProgress | None = None,
        *,
        strategy: str | None = None,
    ) -> None:
        super().__init__(request, progress)
        self.chart = CHARTS[0]
        self.strategy = strategy
        """The strategy file to choose when the list arrives (default: the first)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="wf-form"):
            with Horizontal(classes="rs-row"):
                yield Label("Strategy", classes="rs-label")
                yield Select[str]([], id="wf-strategy", compact=True, prompt="choose a file")
                yield Select(MODES, id="wf-mode", compact=True, value="rolling", allow_blank=False)
            with Horizontal(classes="rs-row"):
                yield Label("Train/test", classes="rs-label")
                yield SteadyInput("5", id="wf-train", compact=True, type="integer", tooltip="days")
                yield SteadyInput("1", id="wf-test", compact=True, type="integer", tooltip="days")
                yield Select(METHODS, id="wf-method", compact=True, value="grid", allow_blank=False)
                yield Select(
                    ((name, name) for name in OBJECTIVES), id="wf-objective", compact=True,
                    value="sharpe", allow_blank=False,
                )  # fmt: skip
            with Horizontal(classes="rs-row"):
                yield Label("Trials/seed", classes="rs-label")
                yield SteadyInput("50", id="wf-trials", compact=True, type="integer")
                yield SteadyInput("0", id="wf-seed", compact=True, type="integer")
                yield SteadyInput(
                    placeholder="name=low:high:step … (ranges)", id="wf-params", compact=True
                )
                yield Button(
                    "Run ctrl+r", id="wf-run", classes="rs-run", variant="primary", compact=True
                )
        yield Static(
            "Choose a strategy file and the window lengths (recorded days).", classes="rs-status"
        )
        with Vertical(id="wf-body"):
            yield SortableTable(WINDOW_COLUMNS, id="wf-windows")
            yield PlotextPlot(id="wf-chart")
        yield StatusMirror()
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.draw_chart()
        self.load_files()

    @work(group="walkforward-files")
    async def load_files(self) -> None:
        reply = await self.ask("strategy.list", {})
        if reply is None or reply.result is None:
            return
        files = [str(name) for name in reply.result.get("files", [])]
        select = self.query_one("#wf-strategy", Select)
        select.set_options((name, name) for name in files)
        if files:
            select.value = self.strategy if self.strategy in files else files[0]

    # --- running ------------------------------------------------------------------------------

    def run_args(self) -> dict[str, Any] | None:
        """``walkforward.run``'s arguments from the form, or None (the problem is shown)."""
        strategy = self.query_one("#wf-strategy", Select).value
        if not isinstance(strategy, str):
            self.say("Choose a strategy file first.", error=True)
            return None
        try:
            params = parse_ranges(self.query_one("#wf-params", Input).value)
        except ValueError as exc:
            self.say(f"Ranges: {exc}", error=True)
            return None
        try:
            # Textual's integer fields accept a lone "-" or "+" as typed text.
            numbers = {
                name: int(self.query_one(f"#wf-{name}", Input).value or "0")
                for name in ("train", "test", "trials", "seed")
            }
        except ValueError:
            self.say("Train, test, trials and seed: whole numbers", error=True)
            return None
        args: dict[str, Any] = {
            "strategy": strategy,
            "mode": self.query_one("#wf-mode", Select).value,
            "method": self.query_one("#wf-method", Select).value,
            "objective": self.query_one("#wf-objective", Select).value,
            **numbers,
        }
        if params:
            args["params"] = params
        return args

    def action_cancel_run(self) -> None:
        self.send_cancel()

    @work(group="walkforward-cancel")
    async def send_cancel(self) -> None:
        reply = await self.ask("walkforward.cancel", {})
        if reply is not None and reply.status != "accepted":
            self.say(reply.reason or "rejected", error=True)
        elif reply is not None:
            self.follow()

    # --- showing ------------------------------------------------------------------------------

    def show_progress(self, progress: WalkForwardProgress) -> None:
        self.progress = progress
        state = STATE_WORDS.get(progress.state, progress.state)
        wfe = ratio(progress.efficiency)
        text = (
            f"{progress.run_id} {state}: {progress.done} of {progress.total} windows · "
            f"{progress.name} ({progress.mode}, {progress.method} on {progress.objective}) · "
            f"efficiency {wfe}"
        )
        if progress.error:
            text += f" · {progress.error}"
        self.say(text, error=progress.state == "failed")
        self.query_one("#wf-windows", SortableTable).set_rows(
            [window_row(window) for window in progress.windows]
        )
        self.draw_chart()

    def action_next_chart(self) -> None:
        self.chart = CHARTS[(CHARTS.index(self.chart) + 1) % len(CHARTS)]
        self.draw_chart()

    def draw_chart(self) -> None:
        plot = self.query_one("#wf-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        windows = self.progress.windows if self.progress is not None else []
        labels = [f"W{window.number}" for window in windows]
        if not windows:
            plt.title("No windows yet: run a walk-forward (ctrl+r)")
        elif self.chart == "efficiency":
            values = [window.efficiency or 0.0 for window in windows]
            plt.bar(labels, values, marker="hd")
            plt.hline(1.0)
            plt.title("Walk-forward efficiency per window (OOS / IS annualized; 1 = kept) · c")
        else:
            ins = [window.in_sample.total_return * 100 for window in windows]
            oos = [window.out_of_sample.total_return * 100 for window in windows]
            plt.multiple_bar(labels, [ins, oos], labels=["in-sample %", "out-of-sample %"])  # type: ignore[call-arg]  # the stub says label; plotext takes labels
            plt.title("Return per window, in-sample against out-of-sample (%) · c")
        plot.refresh()
