"""The console's strategy side: the strategy list, ``t`` (toggle the selected strategy) and the
backtest and optimization screens (``r``, ``o``), with their progress.

A plain object owned by the app (:attr:`stom_tui.app.StomApp.strategies`). The Strategies view
gets a tab once the engine lists a strategy: a console whose engine runs none keeps its tabs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.protocol.codec import DecodeError
from engine.protocol.optimize import OptimizeProgress
from engine.protocol.results import StrategyResult, result_of
from engine.protocol.strategies import BacktestProgress, Strategies
from stom_tui.screens.backtest import BacktestScreen
from stom_tui.screens.optimize import OptimizeScreen
from stom_tui.widgets.strategies import STATE_LABELS

if TYPE_CHECKING:
    from stom_tui.controllers.host import Console
    from stom_tui.widgets.strategies import StrategiesPane

COMMAND_TIMEOUT_S = 3.0
STRATEGY_ACTIONS = frozenset({"toggle_strategy", "backtest", "optimize"})
"""Actions that need the engine (disabled while it is offline)."""


class StrategyController:
    """Strategy commands and the progress of backtests and optimizations."""

    def __init__(self, app: Console) -> None:
        self.app = app
        self.backtest_progress: BacktestProgress | None = None
        self.optimize_progress: OptimizeProgress | None = None
        self._attached_ns: int | None = None

    @property
    def pane(self) -> StrategiesPane:
        return self.app.main.strategies_pane

    @property
    def has_strategies(self) -> bool:
        return bool(self.pane.strategies)

    def strategies_updated(self, strategies: Strategies) -> None:
        self.pane.update_strategies(strategies)
        self.app.main.strategies_listed(self.has_strategies)

    def backtest_progressed(self, progress: BacktestProgress) -> None:
        previous = self.backtest_progress
        self.backtest_progress = progress
        screen = self.app.screen
        if isinstance(screen, BacktestScreen):
            screen.show_progress(progress)
        elif (
            previous is not None
            and progress.state in ("done", "failed")
            and (previous.run_id, previous.state) != (progress.run_id, progress.state)
        ):
            # Finished while this console watched with the screen closed: say so once (r shows
            # the result). The retained progress a newly attached console receives first is
            # old news, not a toast.
            detail = progress.result_id if progress.state == "done" else progress.error
            self.app.notify(f"backtest {progress.run_id} {progress.state}: {detail}", markup=False)

    def optimize_progressed(self, progress: OptimizeProgress) -> None:
        previous = self.optimize_progress
        self.optimize_progress = progress
        screen = self.app.screen
        if isinstance(screen, OptimizeScreen):
            screen.show_progress(progress)
        elif (
            previous is not None
            and progress.state in ("done", "failed", "cancelled")
            and (previous.run_id, previous.state) != (progress.run_id, progress.state)
        ):
            detail = progress.error or f"{progress.done} trials, study {progress.study}"
            self.app.notify(
                f"optimization {progress.run_id} {progress.state}: {detail}", markup=False
            )

    # --- t: toggle ----------------------------------------------------------------------------

    def toggle_strategy(self) -> None:
        selected = self.pane.selected_strategy
        if selected is None:
            self.app.notify(
                "No strategy selected: the engine runs none (start one with `stom strategy`), "
                "or choose one in Strategies (S)",
                severity="warning",
                markup=False,
            )
            return
        self.app.run_worker(
            self._toggle(selected.id), group="strategies", exit_on_error=False, exclusive=False
        )

    async def _toggle(self, strategy_id: str) -> None:
        notify = self.app.notify
        try:
            reply = await self.app.feed.request(
                "strategy.toggle", {"id": strategy_id}, timeout=COMMAND_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError) as exc:
            text = f"{strategy_id}: no answer from the engine ({exc or 'timeout'})"
            notify(text, severity="error", markup=False)
            return
        if reply.status != "accepted":
            notify(f"{strategy_id}: {reply.reason}", severity="error", markup=False)
            return
        try:
            state = result_of(reply, StrategyResult).strategy.state
        except DecodeError as exc:
            notify(f"{strategy_id}: unreadable reply ({exc})", severity="error", markup=False)
            return
        notify(f"{strategy_id} {STATE_LABELS.get(state, state)}", markup=False)

    # --- r, o: research screens ---------------------------------------------------------------

    def backtest(self) -> None:
        if isinstance(self.app.screen, BacktestScreen):
            return
        self.app.push_screen(BacktestScreen(self.app.feed.request, self.backtest_progress))

    def optimize(self) -> None:
        if isinstance(self.app.screen, OptimizeScreen):
            return
        self.app.push_screen(
            OptimizeScreen(self.app.feed.request, self.optimize_progress, self.strategy_ids_running)
        )

    def strategy_ids_running(self, file: str) -> list[str]:
        """The engine's strategies that run ``file`` (the optimization screen applies to them)."""
        return [
            row.id
            for row in self.pane.strategies.values()
            if row.file == file and row.state != "error"
        ]
