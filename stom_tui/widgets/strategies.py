"""Strategies: one row per strategy (stable key: its id), cells updated in place.

The cursor row is the strategy ``t`` toggles. A strategy in ``error`` shows why (file and line)
in the detail column when the pane is wide enough, and always in the pane's bottom border while
its row is selected; the others show their instruments there.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widgets import DataTable

from engine.config.strategy_settings import StrategiesSettings
from engine.protocol.strategies import Strategies, StrategyInfo
from stom_tui.formatting import format_amount, parse_decimal
from stom_tui.widgets.live_table import Column, LiveTable

_COLUMNS = (
    Column("id", "Strategy", 14, rank=1, justify="left"),
    Column("state", "State", 8, rank=1, justify="left"),
    Column("pnl", "PnL", 12, rank=1),
    Column("fills", "Fills", 5, rank=2),
    Column("open", "Open", 4, rank=6),
    Column("detail", "Instruments / error", 12, rank=3, justify="left", flexible=True),
)

STATE_LABELS = {"enabled": "running", "disabled": "stopped", "error": "error"}


def empty_hint(strategies_dir: str, toggle_key: str = "t") -> list[str]:
    """What an empty Strategies pane says: where strategies live, how to add one, how to start."""
    return [
        "No strategies run in this engine.",
        f"Strategy files live in {strategies_dir}/ ([strategies] dir; its README shows the API).",
        'To run one, add to config.toml: [[strategies.enabled]] file = "name.py",',
        '  instruments = ["KRW-BTC.SIM"]; the engine loads it when it next starts.',
        f"Here, select a strategy and press {toggle_key} to start or stop it.",
    ]


class StrategiesPane(LiveTable):
    """Strategies from the retained ``strategy/list`` snapshot, in the engine's order."""

    COLUMNS = _COLUMNS

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "strategies--enabled",
        "strategies--disabled",
        "strategies--error",
        "strategies--profit",
        "strategies--loss",
        "strategies--muted",
    }

    def __init__(
        self,
        *,
        id: str | None = None,
        classes: str | None = None,
        strategies_dir: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Strategies"
        self.strategies: dict[str, StrategyInfo] = {}
        self.strategies_dir = strategies_dir or StrategiesSettings().dir

    @property
    def toggle_key(self) -> str:
        """The current key of the ``toggle_strategy`` binding (``t`` unless remapped)."""
        if self.is_attached:
            for active in self.screen.active_bindings.values():
                if active.binding.id == "toggle_strategy":
                    return self.app.get_key_display(active.binding)
        return "t"

    @property
    def hint(self) -> list[str]:
        """The lines shown while the engine lists no strategy (empty otherwise)."""
        return [] if self.strategies else empty_hint(self.strategies_dir, self.toggle_key)

    def render_line(self, y: int) -> Strip:
        hint = self.hint
        if not hint:
            return super().render_line(y)
        # Empty: the table has nothing to draw, so the pane tells how to get a strategy in it.
        width = self.size.width
        if y >= len(hint):
            return Strip.blank(width, self.rich_style)
        text = Text(hint[y], style=self._style("muted"), no_wrap=True, overflow="ellipsis")
        text.truncate(width, overflow="ellipsis", pad=True)
        segments = [Segment(segment.text, self.rich_style + segment.style) for segment in
                    text.render(self.app.console) if segment.text != "\n"]  # fmt: skip
        return Strip(segments, width).adjust_cell_length(width, self.rich_style)

    @property
    def running_count(self) -> int:
        return sum(1 for row in self.strategies.values() if row.state == "enabled")

    @property
    def selected_strategy(self) -> StrategyInfo | None:
        key = self.highlighted_key
        return self.strategies.get(key) if key is not None else None

    def update_strategies(self, snapshot: Strategies) -> None:
        """Show ``snapshot``, changing only the cells that changed."""
        self.strategies = {row.id: row for row in snapshot.strategies}
        self.set_rows((row.id, self._row_cells(row)) for row in snapshot.strategies)
        running, total = self.running_count, len(self.strategies)
        errors = sum(1 for row in snapshot.strategies if row.state == "error")
        title = f"Strategies · {running}/{total} running"
        self.border_title = f"{title} · {errors} error" if errors else title
        self._show_selected_error()
        self.refresh()  # the empty hint comes and goes with the rows

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected_error()

    def _show_selected_error(self) -> None:
        selected = self.selected_strategy
        error = selected.error if selected is not None and selected.state == "error" else None
        self.border_subtitle = f"{selected.id}: {error}" if selected and error else ""
        self.set_class(bool(error), "-error")

    def _row_cells(self, row: StrategyInfo) -> dict[str, Text]:
        muted = self._style("muted")
        state_style = self._style(row.state)
        if row.state == "error":
            detail = Text(row.error or "", style=state_style, overflow="ellipsis", no_wrap=True)
        else:
            detail = Text(
                ", ".join(row.instruments), style=muted, overflow="ellipsis", no_wrap=True
            )
        return {
            "id": Text(row.id, overflow="ellipsis", no_wrap=True),
            "state": Text(STATE_LABELS[row.state], style=state_style),
            "pnl": _right(
                format_amount(row.pnl, row.currency, signed=True), self._pnl_style(row.pnl)
            ),
            "fills": _right(str(row.fills)),
            "open": _right(str(row.open_orders), muted if not row.open_orders else None),
            "detail": detail,
        }

    def _pnl_style(self, value: str) -> Style:
        number = parse_decimal(value)
        if not number:
            return Style()
        return self._style("profit" if number > 0 else "loss")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"strategies--{name}", partial=True)


def _right(text: str, style: Style | None = None) -> Text:
    return Text(text, style=style or Style(), justify="right", no_wrap=True, overflow="ellipsis")
