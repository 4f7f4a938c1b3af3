"""Engine log lines and the app's own notices, newest at the bottom, bounded."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from engine.protocol.payloads import LogEvent
from stom_tui.formatting import format_clock

MAX_LINES = 1000

_LEVEL_LABELS = {
    "debug": "DBG",
    "info": "INF",
    "warning": "WRN",
    "error": "ERR",
    "critical": "CRT",
}


class LogPane(RichLog):
    """A bounded log view. It never takes focus, so the arrow keys stay on the watchlist."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log--time",
        "log--source",
        "log--debug",
        "log--info",
        "log--warning",
        "log--error",
        "log--critical",
    }

    can_focus = False

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            max_lines=MAX_LINES,
            min_width=20,
            wrap=True,
            markup=False,
            auto_scroll=True,
        )
        self.border_title = "Log"
        self.lines_written = 0
        self._entries: deque[Text] = deque(maxlen=MAX_LINES)
        self._wrap_width = 0

    def on_resize(self, event: Resize) -> None:
        # RichLog wraps a line once, when written; re-wrap everything when the width changes
        # (e.g. the log first measured while hidden, or a terminal resize).
        # After the refresh: RichLog wraps to its content region, which lags the event.
        self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrap_width:
            self._wrap_width = width
            self.clear()
            for entry in self._entries:
                self.write(entry)

    @property
    def entries(self) -> list[str]:
        """Every line kept, unwrapped, as plain text (oldest first)."""
        return [entry.plain for entry in self._entries]

    def add_event(self, event: LogEvent) -> None:
        """An engine log line."""
        self.add_line(event.ts, event.level, event.source, event.message)

    def add_notice(self, ts_ns: int, level: str, message: str) -> None:
        """A line from the app itself (feed state, malformed payloads)."""
        self.add_line(ts_ns, level, "app", message)

    def add_line(self, ts_ns: int, level: str, source: str, message: str) -> None:
        """A line from ``source`` (order events, risk, reconciliation, the app)."""
        # Long messages wrap rather than hide behind a horizontal scrollbar.
        line = Text()
        line.append(format_clock(ts_ns, millis=True), self._style("time"))
        line.append(f" {_LEVEL_LABELS.get(level, level[:3].upper())} ", self._style(level))
        line.append(f"{source:<8} ", self._style("source"))
        line.append(message)
        self._entries.append(line)
        self.write(line)
        self.lines_written += 1

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"log--{name}", partial=True)
