"""One row of tabs choosing the view beside the price ladder (market, orders, positions,
strategies, log). Each tab shows its key and is clickable."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

VIEWS: tuple[tuple[str, str], ...] = (
    ("market", "Market"),
    ("orders", "Orders"),
    ("positions", "Positions"),
    ("strategies", "Strategies"),
    ("log", "Log"),
)


class ViewBar(Widget):
    """Tabs for the views; ``show`` sets the current one, the keys and the counts."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "view-bar--tab",
        "view-bar--active",
        "view-bar--key",
        "view-bar--count",
    }

    DEFAULT_CSS = """
    ViewBar {
        height: 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view = "market"
        self.keys: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.hidden: frozenset[str] = frozenset({"strategies"})
        """Views without a tab (Strategies until the engine lists one)."""

    def show(
        self,
        view: str,
        *,
        keys: dict[str, str] | None = None,
        counts: dict[str, int] | None = None,
        hidden: frozenset[str] | None = None,
    ) -> None:
        self.view = view
        if hidden is not None:
            self.hidden = hidden
        if keys is not None:
            self.keys = keys
        if counts is not None:
            self.counts = counts
        self.refresh()

    def render(self) -> Text:
        # Full labels when they fit; at 80 columns the bar shares the width with the ladder,
        # so the labels shrink to three letters rather than lose a tab off the edge.
        text = self._tabs(compact=False)
        if text.cell_len > self.size.width > 0:
            text = self._tabs(compact=True)
        return text

    def _tabs(self, *, compact: bool) -> Text:
        text = Text(no_wrap=True, overflow="crop", end="")
        for name, label in VIEWS:
            if name in self.hidden:
                continue
            active = name == self.view
            click = Style(meta={"@click": f"screen.show_view('{name}')"})
            base = self._style("active" if active else "tab") + click
            text.append(" ", base)
            key = self.keys.get(name)
            if key:
                text.append(key, base + self._style("key"))
                text.append(" ", base)
            text.append(label[:3] if compact else label, base)
            count = self.counts.get(name)
            if count:
                text.append(f" {count}", base + self._style("count"))
            text.append(" ", base)
            if not compact:
                text.append(" ")
        return text

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"view-bar--{name}", partial=True)
