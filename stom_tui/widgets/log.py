"""Engine log lines and the app's own notices, newest at the bottom, bounded.

With focus (the log view, or Tab onto it) the log scrolls from the keyboard and searches:
``/`` asks for a text, ``n`` finds the next older line with it, ``N`` the next newer one, and
Escape ends the search (the log follows new lines again).
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.strip import Strip
from textual.widgets import RichLog

from engine.protocol.payloads import LogEvent
from stom_tui.formatting import format_clock
from stom_tui.order_text import spelled
from stom_tui.screens.log_search import LogSearchScreen

MAX_LINES = 1000

_LEVEL_LABELS = {
    "debug": "DBG",
    "info": "INF",
    "warning": "WRN",
    "error": "ERR",
    "critical": "CRT",
}


class LogPane(RichLog):
    """A bounded log view; keys while it has focus: see the module docstring. The cursor keys
    stay on the watchlist until the log is focused (the log view focuses it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Scroll up", id="log_scroll_up", show=False),
        Binding("down", "scroll_down", "Scroll down", id="log_scroll_down", show=False),
        Binding("pageup", "page_up", "Page up", id="log_page_up", show=False),
        Binding("pagedown", "page_down", "Page down", id="log_page_down", show=False),
        Binding("home", "scroll_home", "Oldest line", id="log_oldest", show=False),
        Binding("end", "follow", "Newest line (follow)", id="log_newest", show=False),
        Binding("slash", "search", "Search", id="log_search", key_display="/"),
        Binding("n", "find_next(True)", "Next older match", id="log_next"),
        Binding("N", "find_next(False)", "Next newer match", id="log_previous"),
        Binding("escape", "end_search", "End the search", id="log_end_search"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log--time",
        "log--source",
        "log--debug",
        "log--info",
        "log--warning",
        "log--error",
        "log--critical",
        "log--match",
    }

    DEFAULT_CSS = """
    LogPane > .log--match {
        text-style: reverse;
    }
    """

    can_focus = True

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
        self._pending: deque[Text] = deque(maxlen=MAX_LINES)
        """Lines added since the last write: written together, once per turn of the pane."""
        self._write_scheduled = False
        self.query_text: str | None = None
        """The text searched for (None: no search)."""
        self.match_line: int | None = None
        """The wrapped line of the current match (highlighted), or None."""

    def on_resize(self, event: Resize) -> None:
        # RichLog wraps a line once, when written; re-wrap everything when the width changes
        # (e.g. the log first measured while hidden, or a terminal resize).
        # After the refresh: RichLog wraps to its content region, which lags the event.
        self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrap_width:
            self._wrap_width = width
            self.match_line = None  # lines move when re-wrapped
            self.clear()
            self._pending.clear()  # every entry is written again below
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
        line.append(spelled(message))
        self._entries.append(line)
        self.lines_written += 1
        # Written in one go when the pane next runs: a burst of lines (order events at full
        # rate) costs one scroll and one refresh, and only the newest MAX_LINES are rendered.
        self._pending.append(line)
        if not self._write_scheduled:
            self._write_scheduled = True
            self.call_later(self._write_pending)

    def _write_pending(self) -> None:
        self._write_scheduled = False
        pending, self._pending = self._pending, deque(maxlen=MAX_LINES)
        for line in pending:
            self.write(line)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"log--{name}", partial=True)

    # --- keyboard: scrolling and search ---------------------------------------------------------

    def action_follow(self) -> None:
        """The newest line, and follow new ones again."""
        self.auto_scroll = True
        self.scroll_end(animate=False)

    def action_search(self) -> None:
        self.app.push_screen(LogSearchScreen(self.query_text or ""), callback=self.search)

    def search(self, text: str | None) -> None:
        """Find the newest line containing ``text`` (case-insensitive) and show it; the log stops
        following new lines until the search ends."""
        if not text:
            return
        self.query_text = text
        self.match_line = None
        self.find(older=True)

    def action_find_next(self, older: bool) -> None:
        if self.query_text is None:
            self.action_search()
            return
        self.find(older=older)

    def find(self, *, older: bool) -> bool:
        """Move to the next line (older or newer than the current match) with the searched
        text; says so when there is none. True when one was found."""
        needle = (self.query_text or "").casefold()
        if not needle:
            return False
        count = len(self.lines)
        if self.match_line is None:
            start = count - 1 if older else 0
        else:
            start = self.match_line - 1 if older else self.match_line + 1
        step = -1 if older else 1
        index = start
        while 0 <= index < count:
            if needle in self.lines[index].text.casefold():
                self._show_match(index)
                return True
            index += step
        where = "older" if older else "newer"
        self.notify(f"No {where} line with “{self.query_text}”", severity="warning", markup=False)
        return False

    def _show_match(self, index: int) -> None:
        self.auto_scroll = False
        self.match_line = index
        self.border_subtitle = f"/{self.query_text}  n older · N newer · Esc ends"
        self.scroll_to(y=max(0, index - self.scrollable_content_region.height // 2), animate=False)
        self.refresh()

    def action_end_search(self) -> None:
        self.query_text = None
        self.match_line = None
        self.border_subtitle = ""
        self.action_follow()
        self.refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape ends a search; without one it goes to the screen (back to the Market view).
        if action == "end_search":
            return self.query_text is not None
        return True

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.match_line is not None and y + self.scroll_offset.y == self.match_line:
            return strip.apply_style(self._style("match"))
        return strip
