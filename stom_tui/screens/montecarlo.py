"""The Monte Carlo screen: resample a stored backtest's round trips and see how much of its
result was the order (``shuffle``) or the luck of the draw (``bootstrap``) of its trades.

The run is the engine's (``montecarlo.run``); the screen follows it with ``montecarlo.status``
(see :mod:`stom_tui.screens.research`) and shows the inputs (runs, seed, ruin threshold), the
probability of ruin, the final equity and drawdown percentiles, and the percentile fan of the
equity after each trade (5/25/50/75/95 %) as a chart with the ruin line.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from engine.protocol.research import MonteCarloProgress
from stom_tui.screens.research import Request, ResearchScreen
from stom_tui.widgets.footer import KeyFooter
from stom_tui.widgets.status_mirror import StatusMirror
from stom_tui.widgets.steady_input import SteadyInput

METHODS = (("shuffle the order", "shuffle"), ("bootstrap (redraw)", "bootstrap"))
STATE_WORDS = {"done": "finished"}
PERCENTILE_NAMES = {50: "median"}


def money(value: float, currency: str) -> str:
    """A simulated equity figure (an estimate): whole units with separators."""
    return f"{value:,.0f} {currency}".rstrip()


def short_money(value: float) -> str:
    """An axis label: ``107.57M``, ``98.9M``, ``950K``."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.0f}"


def ruin_line(progress: MonteCarloProgress) -> Text:
    """``probability of ruin 2.30% (equity ≤ 97% of 100,000,000 KRW)``."""
    ruin = progress.probability_of_ruin
    start = money(progress.initial_equity, progress.currency)
    return Text.assemble(
        ("probability of ruin ", "bold"),
        ("-" if ruin is None else f"{ruin:.2%}", "bold"),
        f" (equity ≤ {progress.ruin_fraction:.0%} of {start} at any point)",
    )


def figures(progress: MonteCarloProgress) -> Group:
    """Ruin probability first, then the distributions' 5 % / median / 95 %."""
    table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, expand=False)
    table.add_column("", style="dim")
    for heading in ("5 %", "median", "95 %"):
        table.add_column(heading, justify="right")
    if progress.final_equity is not None:
        e = progress.final_equity
        table.add_row("final equity", *(money(v, "") for v in (e.p5, e.p50, e.p95)))
    if progress.max_drawdown is not None:
        d = progress.max_drawdown
        table.add_row("max drawdown", *(f"{v:.2%}" for v in (d.p5, d.p50, d.p95)))
    return Group(ruin_line(progress), table)


class MonteCarloScreen(ResearchScreen[MonteCarloProgress]):
    """Monte Carlo runs of stored backtests (Escape goes back)."""

    RUN_COMMAND = "montecarlo.run"
    STATUS_COMMAND = "montecarlo.status"
    PROGRESS = MonteCarloProgress
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="montecarlo_close"),
        Binding("ctrl+r", "run", "Run", id="montecarlo_run", priority=True),
    ]

    def __init__(
        self,
        request: Request,
        progress: MonteCarloProgress | None = None,
        *,
        result_id: str | None = None,
    ) -> None:
        super().__init__(request, progress)
        self.result_id = result_id
        """The backtest result to choose when the list arrives (default: the newest)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="mc-form"):
            with Horizontal(classes="rs-row"):
                yield Label("Backtest", classes="rs-label")
                yield Select[str]([], id="mc-result", compact=True, prompt="choose a result")
            with Horizontal(classes="rs-row"):
                yield Label("Runs/seed", classes="rs-label")
                yield SteadyInput("10000", id="mc-runs", compact=True, type="integer")
                yield SteadyInput("0", id="mc-seed", compact=True, type="integer")
                yield Label("Ruin ≤", classes="rs-label")
                yield SteadyInput(
                    "0.5", id="mc-ruin", compact=True, type="number", tooltip="of start"
                )
            with Horizontal(classes="rs-row"):
                yield Label("Method", classes="rs-label")
                yield Select(
                    METHODS, id="mc-method", compact=True, value="shuffle", allow_blank=False
                )
                yield Button(
                    "Run ctrl+r", id="mc-run", classes="rs-run", variant="primary", compact=True
                )
        yield Static(
            "Choose a backtest result: its round trips are resampled.", classes="rs-status"
        )
        with Vertical(id="mc-body"):
            yield Static("", id="mc-figures")
            yield PlotextPlot(id="mc-chart")
        yield StatusMirror()
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.draw_chart()
        self.load_results()

    @work(group="montecarlo-results")
    async def load_results(self) -> None:
        reply = await self.ask("backtest.list", {})
        if reply is None or reply.result is None:
            return
        results = sorted(
            reply.result.get("results", []), key=lambda row: -int(row.get("created_ns", 0))
        )
        select = self.query_one("#mc-result", Select)
        select.set_options(
            (f"{row['id']}  {row['trades']} trades", str(row["id"])) for row in results
        )
        ids = [str(row["id"]) for row in results]
        if ids:
            select.value = self.result_id if self.result_id in ids else ids[0]
        else:
            self.say("No stored backtest: run one first (the backtest screen).", error=True)

    # --- running ------------------------------------------------------------------------------

    def run_args(self) -> dict[str, Any] | None:
        """``montecarlo.run``'s arguments from the form, or None (the problem is shown)."""
        result = self.query_one("#mc-result", Select).value
        if not isinstance(result, str):
            self.say("Choose a backtest result first.", error=True)
            return None
        try:
            ruin = float(self.query_one("#mc-ruin", Input).value)
        except ValueError:
            self.say("Ruin: a fraction of the starting equity, such as 0.5", error=True)
            return None
        try:
            # Textual's integer fields accept a lone "-" or "+" as typed text.
            runs = int(self.query_one("#mc-runs", Input).value or "0")
            seed = int(self.query_one("#mc-seed", Input).value or "0")
        except ValueError:
            self.say("Runs and seed: whole numbers, such as 10000 and 0", error=True)
            return None
        return {
            "result": result,
            "runs": runs,
            "seed": seed,
            "ruin": ruin,
            "method": self.query_one("#mc-method", Select).value,
        }

    # --- showing ------------------------------------------------------------------------------

    def show_progress(self, progress: MonteCarloProgress) -> None:
        self.progress = progress
        state = STATE_WORDS.get(progress.state, progress.state)
        text = (
            f"{progress.run_id} {state}: {progress.result_id} · {progress.method}, "
            f"{progress.runs:,} runs, seed {progress.seed}, ruin at {progress.ruin_fraction:.0%}"
        )
        if progress.state == "done":
            text += f" · {progress.trades:,} round trips"
        if progress.error:
            text += f" · {progress.error}"
        self.say(text, error=progress.state == "failed")
        self.query_one("#mc-figures", Static).update(
            figures(progress) if progress.state == "done" else ""
        )
        self.draw_chart()

    def draw_chart(self) -> None:
        plot = self.query_one("#mc-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        progress = self.progress
        if progress is None or not progress.fan:
            plt.title("No simulation yet: choose a backtest and run (ctrl+r)")
            plot.refresh()
            return
        for percentile, curve in zip(progress.percentiles, progress.fan, strict=True):
            label = PERCENTILE_NAMES.get(percentile, f"{percentile} %")
            plt.plot(progress.fan_x, curve, label=label, marker="braille")
        ruin = progress.initial_equity * progress.ruin_fraction
        low, high = min(progress.fan[0]), max(progress.fan[-1])
        where = ""
        if ruin >= low - (high - low):  # drawn when near the fan, else it would flatten it
            plt.hline(ruin)
        else:
            where = f" (ruin line {money(ruin, progress.currency)}: far below)"
        plt.xlabel("round trip")
        top = max(high, ruin) if where == "" else high
        bottom = min(low, ruin) if where == "" else low
        ticks = [bottom + (top - bottom) * n / 4 for n in range(5)]
        plt.yticks(ticks, [short_money(value) for value in ticks])
        last = progress.fan_x[-1]
        steps = sorted({round(last * n / 4) for n in range(5)})
        plt.xticks([float(step) for step in steps], [str(step) for step in steps])
        plt.title(f"Equity percentiles over {progress.fan_runs:,} runs{where}")
        plot.refresh()
