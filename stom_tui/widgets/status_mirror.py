"""The status line on screens pushed over the main one (backtest, optimizer, walk-forward,
Monte Carlo): a :class:`StatusLine` that shows what the app's own status line shows.

A pushed :class:`~textual.screen.Screen` covers the main screen, status line included. The
research screens compose a ``StatusMirror`` at the bottom instead; it copies the state of the
first other :class:`StatusLine` on the screen stack (the one the app keeps up to date) a few times
a second, so engine state, kill switch, feed age and broker stay in view on every screen.
"""

from __future__ import annotations

from stom_tui.widgets.status_line import StatusLine

MIRROR_S = 0.25
"""How often the mirrored line is copied (the feed age it shows moves in whole seconds)."""


class StatusMirror(StatusLine):
    """A :class:`StatusLine` following the app's own (see the module docstring)."""

    def __init__(self, *, id: str | None = "research-status") -> None:
        super().__init__("", id=id)

    def on_mount(self) -> None:
        self.copy_source()
        self.set_interval(MIRROR_S, self.copy_source)

    def source(self) -> StatusLine | None:
        """The app's status line: the first one on the stack that is not a mirror."""
        for screen in self.app.screen_stack:
            for line in screen.query(StatusLine):
                if not isinstance(line, StatusMirror):
                    return line
        return None

    def copy_source(self) -> None:
        line = self.source()
        if line is None:
            return
        changed = (line.broker, line.note, line.risk, line.feeds, line.engine_load) != (
            self.broker,
            self.note,
            self.risk,
            self.feeds,
            self.engine_load,
        )
        self.broker, self.note = line.broker, line.note
        self.risk, self.feeds, self.engine_load = line.risk, line.feeds, line.engine_load
        self._skipped_at = line._skipped_at
        for name in ("-kill", "-venue-down"):
            self.set_class(line.has_class(name), name)
        if line.health is not None:
            self.show(line.health)
        if changed:
            self.refresh()
