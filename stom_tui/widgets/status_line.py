"""One always-visible line: engine state, risk (kill switch, paused instruments, daily PnL),
newest tick age, feed connection and broker."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.protocol.payloads import FeedsHealth
from engine.protocol.trading import RiskState
from stom_tui.formatting import format_age, format_money, parse_decimal
from stom_tui.health import Health

_SEPARATOR = " │ "


class StatusLine(Widget):
    """Shows a :class:`~stom_tui.health.Health`; classes ``-offline``, ``-stale``,
    ``-disconnected`` (and ``-waiting`` for starting/degraded states) drive its colours.
    A :class:`~engine.protocol.trading.RiskState` adds a KILL badge with its reason while the
    kill switch is on, the daily PnL and the number of paused instruments."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-line--state",
        "status-line--kill",
        "status-line--profit",
        "status-line--loss",
        "status-line--paused",
        "status-line--label",
        "status-line--value",
        "status-line--age",
        "status-line--feed",
        "status-line--note",
    }

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
    }
    """

    def __init__(self, broker: str, note: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.broker = broker
        self.note = note
        self.health: Health | None = None
        self.risk: RiskState | None = None
        self.feeds: FeedsHealth | None = None

    def show(self, health: Health) -> None:
        """Display ``health`` (cheap when nothing visible changed)."""
        if health == self.health:
            return
        self.health = health
        self.set_class(health.offline, "-offline")
        self.set_class(health.stale, "-stale")
        self.set_class(not health.feed_connected, "-disconnected")
        self.set_class(not health.offline and health.state != "running", "-waiting")
        self.refresh()

    def show_feeds(self, feeds: FeedsHealth) -> None:
        """Each venue feed's state, message age and reconnect count; ``-venue-down`` while one
        is not live (entries on its instruments wait)."""
        self.feeds = feeds
        self.set_class(any(row.state != "live" for row in feeds.feeds), "-venue-down")
        self.refresh()

    def show_risk(self, risk: RiskState) -> None:
        self.risk = risk
        self.set_class(risk.kill_switch, "-kill")
        self.refresh()

    def render(self) -> Text:
        health = self.health
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if health is None:
            text.append(" STARTING ", self._style("state"))
            return text
        text.append(f" {health.state.upper()} ", self._style("state"))
        if health.reason:
            text.append(f" {health.reason}", self._style("label"))
        risk = self.risk
        if risk is not None and risk.kill_switch:
            reason = f": {risk.kill_reason}" if risk.kill_reason else ""
            text.append(" ")
            text.append(f" KILL{reason} ", self._style("kill"))
        width = self.content_size.width
        # Most important first: later parts are left out when the line is too narrow.
        for label, value, style in self._parts(health):
            piece_length = len(_SEPARATOR) + len(label) + len(value)
            if len(text) + piece_length > width:
                break
            text.append(_SEPARATOR, self._style("label"))
            text.append(label, self._style("label"))
            text.append(value, self._style(style))
        return text

    def _parts(self, health: Health) -> list[tuple[str, str, str]]:
        if health.tick_age_ns is None:
            age = "none yet"
        else:
            age = format_age(health.tick_age_ns) + (" stale" if health.stale else "")
        parts = [("tick ", age, "age"), *self._feed_parts(), *self._risk_parts()]
        parts += [
            ("feed ", "connected" if health.feed_connected else "disconnected", "feed"),
            ("broker ", self.broker, "value"),
        ]
        if health.engine_id:
            parts.append(("engine ", health.engine_id, "value"))
        if health.ticks_per_s is not None:
            parts.append(("", f"{health.ticks_per_s:,.0f} ticks/s", "value"))
        if self.note:
            parts.append(("", self.note, "note"))
        return parts

    def _feed_parts(self) -> list[tuple[str, str, str]]:
        """``UPBIT live 12ms ↻0`` per venue feed: state, age of its last message, reconnects."""
        if self.feeds is None:
            return []
        parts = []
        for row in self.feeds.feeds:
            age = format_age(row.age_ms * 1_000_000) if row.age_ms is not None else "-"
            style = "feed" if row.state == "live" else "paused"
            parts.append((f"{row.venue} ", f"{row.state} {age} ↻{row.reconnects}", style))
        return parts

    def _risk_parts(self) -> list[tuple[str, str, str]]:
        risk = self.risk
        if risk is None:
            return []
        pnl = parse_decimal(risk.daily_pnl) or 0
        style = "profit" if pnl > 0 else "loss" if pnl < 0 else "value"
        parts = [("PnL ", f"{format_money(risk.daily_pnl, signed=True)} {risk.currency}", style)]
        if risk.paused:
            parts.append(("paused ", f"{len(risk.paused)}", "paused"))
        return parts

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"status-line--{name}", partial=True)
