"""The app's strategy side: the Strategies pane's messages, ``t`` (toggle the selected
strategy) and ``r`` (the backtest screen). Mixed into :class:`~stom_tui.app.StomApp`.

The pane appears once the engine lists a strategy: a console whose engine runs none keeps the
layout it always had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.protocol.optimize import OptimizeProgress
from engine.protocol.strategies import BacktestProgress
from stom_tui.messages import BacktestProgressed, OptimizeProgressed, StrategiesUpdated
from stom_tui.screens.backtest import BacktestScreen
from stom_tui.screens.optimize import OptimizeScreen
from stom_tui.widgets.strategies import STATE_LABELS

if TYPE_CHECKING:
    from textual.containers import Container

    from stom_tui.feed import Feed
    from stom_tui.widgets import LogPane
    from stom_tui.widgets.strategies import StrategiesPane

COMMAND_TIMEOUT_S = 3.0
STRATEGY_ACTIONS = frozenset({"toggle_strategy", "backtest", "optimize"})
"""Actions that need the engine (disabled while it is offline, and from inside a modal)."""


class StrategyActions:
    """Strategy actions and message handlers (needs the attributes below)."""

    if TYPE_CHECKING:
        feed: Feed
        clock: Callable[[], int]
        strategies_pane: StrategiesPane
        log_pane: LogPane
        _panes: Container

        def notify(
            self, message: str, *, title: str = "", severity: Any = ..., timeout: Any = ...,
            markup: bool = ...,
        ) -> None: ...  # fmt: skip
        def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def show_view_counts(self) -> None: ...
        def take(self, message: Any) -> bool: ...
        @property
        def screen(self) -> Any: ...

    backtest_progress: BacktestProgress | None = None
    optimize_progress: OptimizeProgress | None = None

    @property
    def has_strategies(self) -> bool:
        return bool(self.strategies_pane.strategies)

    def on_strategies_updated(self, message: StrategiesUpdated) -> None:
        if not self.take(message):
            return
        self.strategies_pane.update_strategies(message.strategies)
        self._panes.set_class(self.has_strategies, "-strategies")
        self.show_view_counts()

    def on_backtest_progressed(self, message: BacktestProgressed) -> None:
        if not self.take(message):
            return
        previous = self.backtest_progress
        progress = self.backtest_progress = message.progress
        screen = self.screen
        if isinstance(screen, BacktestScreen):
            screen.show_progress(progress)
        elif progress.state in ("done", "failed") and (
            previous is None
            or (previous.run_id, previous.state) != (progress.run_id, progress.state)
        ):
            # Finished while the screen was closed: say so once (r shows the result).
            detail = progress.result_id if progress.state == "done" else progress.error
            self.notify(f"backtest {progress.run_id} {progress.state}: {detail}", markup=False)

    def on_optimize_progressed(self, message: OptimizeProgressed) -> None:
        if not self.take(message):
            return
        previous = self.optimize_progress
        progress = self.optimize_progress = message.progress
        screen = self.screen
        if isinstance(screen, OptimizeScreen):
            screen.show_progress(progress)
        elif progress.state in ("done", "failed", "cancelled") and (
            previous is None
            or (previous.run_id, previous.state) != (progress.run_id, progress.state)
        ):
            # Finished while the screen was closed: say so once (O shows the leaderboard).
            detail = progress.error or f"{progress.done} trials, study {progress.study}"
            self.notify(f"optimization {progress.run_id} {progress.state}: {detail}", markup=False)

    # --- t: toggle ----------------------------------------------------------------------------

    def action_toggle_strategy(self) -> None:
        selected = self.strategies_pane.selected_strategy
        if selected is None:
            self.notify("No strategy selected (the engine runs none, or the list is empty)",
                        severity="warning", markup=False)  # fmt: skip
            return
        self.run_worker(
            self._toggle(selected.id), group="strategies", exit_on_error=False, exclusive=False
        )

    async def _toggle(self, strategy_id: str) -> None:
        try:
            reply = await self.feed.request(
                "strategy.toggle", {"id": strategy_id}, timeout=COMMAND_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError) as exc:
            self.notify(f"{strategy_id}: no answer from the engine ({exc or 'timeout'})",
                        severity="error", markup=False)  # fmt: skip
            return
        if reply.status != "accepted" or reply.result is None:
            self.notify(f"{strategy_id}: {reply.reason}", severity="error", markup=False)
            return
        state = str(reply.result["strategy"]["state"])
        self.notify(f"{strategy_id} {STATE_LABELS.get(state, state)}", markup=False)

    # --- r: backtest screen -------------------------------------------------------------------

    def action_backtest(self) -> None:
        if isinstance(self.screen, BacktestScreen):
            return
        self.push_screen(BacktestScreen(self.feed.request, self.backtest_progress))

    # --- O: optimization screen ---------------------------------------------------------------

    def action_optimize(self) -> None:
        if isinstance(self.screen, OptimizeScreen):
            return
        self.push_screen(
            OptimizeScreen(self.feed.request, self.optimize_progress, self.strategy_ids_running)
        )

    def strategy_ids_running(self, file: str) -> list[str]:
        """The engine's strategies that run ``file`` (the optimization screen applies to them)."""
        return [
            row.id
            for row in self.strategies_pane.strategies.values()
            if row.file == file and row.state != "error"
        ]
