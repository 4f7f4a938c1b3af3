"""One always-visible line: engine state, risk (kill switch, paused instruments, daily PnL),
newest tick age, feed connection, each venue's mode (paper / LIVE, armed) and broker.

Each part has a place: the engine state, the kill badge, the data age, the feed connection and
the venues' modes are always shown (shortened when the line is narrow, never pushed off it);
the rest fill what is left, most important first, in a fixed order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.protocol.payloads import EngineStats, FeedsHealth
from engine.protocol.trading import RiskState
from stom_tui.formatting import format_age, format_amount, parse_decimal
from stom_tui.health import (
    CLOCK_WARN_MS,
    Health,
    VenueMode,
    feed_incidents,
    format_clock_offset,
    venue_modes,
)

_SEPARATOR = " │ "
_ELLIPSIS = "…"
LAG_SHOWN_MS = 250.0
"""The simulator's lag is shown from this much, and while it has skipped events lately."""
SKIPS_SHOWN_S = 10.0


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of the status line: ``label`` (muted) then ``value`` in ``style``."""

    label: str
    value: str
    style: str
    keep: bool = False
    """Always shown (shortened down to ``minimum`` cells if the line is too narrow)."""
    minimum: int = 4
    rank: int = 0
    """For the others: lower ranks take the room left first."""
    separator: bool = True

    @property
    def width(self) -> int:
        return len(self.label) + len(self.value) + (len(_SEPARATOR) if self.separator else 0)

    def shortened(self, width: int) -> Part:
        """This part in ``width`` cells at most (its end cut with an ellipsis)."""
        extra = self.width - width
        if extra <= 0:
            return self
        text = self.label + self.value
        keep = max(len(text) - extra - 1, 0)
        if keep >= len(self.label):
            value = self.value[: keep - len(self.label)] + _ELLIPSIS
            return replace(self, value=value)
        return replace(self, label=self.label[:keep] + _ELLIPSIS, value="")


def lay_out(parts: list[Part], width: int, style_of: Callable[[str], Style]) -> Text:
    """The parts that fit ``width`` cells, in their order: every ``keep`` part first (each cut
    down towards its ``minimum`` while the kept ones overflow), then the others by rank."""
    kept = [part for part in parts if part.keep]
    shown: dict[int, Part] = {id(part): part for part in kept}
    overflow = sum(part.width for part in kept) - width
    # Cut the kept parts, longest first, never below their minimum.
    for long_part in sorted(kept, key=lambda p: p.width, reverse=True):
        if overflow <= 0:
            break
        room = long_part.width - max(long_part.minimum, 1)
        if room <= 0:
            continue
        cut = min(room, overflow)
        shown[id(long_part)] = long_part.shortened(long_part.width - cut)
        overflow -= cut
    used = sum(part.width for part in shown.values())
    for optional in sorted((p for p in parts if not p.keep), key=lambda p: p.rank):
        if used + optional.width <= width:
            shown[id(optional)] = optional
            used += optional.width
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for original in parts:
        part = shown.get(id(original))
        if part is None or not (part.label or part.value):
            continue
        if part.separator:
            text.append(_SEPARATOR, style_of("label"))
        text.append(part.label, style_of("label" if part.value else part.style))
        text.append(part.value, style_of(part.style))
    return text


class StatusLine(Widget):
    """Shows a :class:`~stom_tui.health.Health`; classes ``-offline``, ``-stale``,
    ``-disconnected`` (and ``-waiting`` for starting/degraded states) drive its colours.
    A :class:`~engine.protocol.trading.RiskState` adds a KILL badge with its reason while the
    kill switch is on, the daily PnL and the number of paused instruments; the venues' modes
    come from the engine status (its venues), ``md/feeds`` (each feed's mode) and the risk
    state (armed venues). ``-failed`` while :meth:`show_engine_failure` holds a reason."""

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
        "status-line--live",
    }

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
    }
    StatusLine > .status-line--live {
        color: $text-error;
        text-style: bold;
    }
    """

    def __init__(self, broker: str, note: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.broker = broker
        self.note = note
        self.health: Health | None = None
        self.risk: RiskState | None = None
        self.feeds: FeedsHealth | None = None
        self.engine_load: tuple[float, int] = (0.0, 0)
        """The simulator's lag (ms) and the events it skipped to catch up."""
        self._skipped_at = -SKIPS_SHOWN_S
        self.engine_failure: str | None = None

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

    def show_engine_load(self, stats: EngineStats) -> None:
        """The simulator's lag and skipped events (engine/sim/pacing.py), shown while it lags."""
        if stats.sim_dropped > self.engine_load[1]:
            self._skipped_at = time.monotonic()
        load = (stats.sim_lag_ms, stats.sim_dropped)
        if load != self.engine_load:
            self.engine_load = load
            self.refresh()

    def show_risk(self, risk: RiskState) -> None:
        self.risk = risk
        self.set_class(risk.kill_switch, "-kill")
        self.refresh()

    def show_engine_failure(self, reason: str | None) -> None:
        """The engine this console started failed: its reason replaces the offline state."""
        self.engine_failure = reason
        self.set_class(reason is not None, "-failed")
        self.refresh()

    def venue_modes(self) -> list[VenueMode]:
        """Every venue of the engine with its mode (paper/live) and whether it is armed."""
        venues = self.health.venues if self.health is not None else ()
        armed = self.risk.armed_venues if self.risk is not None else ()
        return venue_modes(venues, self.feeds, armed)

    def render(self) -> Text:
        health = self.health
        if health is None:
            return Text(" STARTING ", self._style("state"), no_wrap=True, end="")
        return lay_out(self._parts(health), self.content_size.width, self._style)

    def _parts(self, health: Health) -> list[Part]:
        """Every part in display order; ``keep`` parts always get a place (shortened to their
        ``minimum`` if need be), the others only while room is left, most important first."""
        if self.engine_failure is not None:
            state = Part(" ENGINE FAILED ", "", "state", keep=True, separator=False)
            reason = Part(
                f" {self.engine_failure}", "", "label", keep=True, minimum=12, separator=False
            )
        else:
            state = Part(f" {health.state.upper()} ", "", "state", keep=True, separator=False)
            reason_text = f" {health.reason}" if health.reason else ""
            reason = Part(reason_text, "", "label", keep=True, minimum=12, separator=False)
        parts = [state, reason]
        risk = self.risk
        if risk is not None and risk.kill_switch:
            why = f": {risk.kill_reason}" if risk.kill_reason else ""
            parts.append(Part(f" KILL{why} ", "", "kill", keep=True, minimum=6))
        if health.tick_age_ns is None:
            age = "none yet"
        else:
            age = format_age(health.tick_age_ns) + (" stale" if health.stale else "")
        parts.append(Part("tick ", age, "age", keep=True, rank=0))
        connected = "ok" if health.feed_connected else "disconnected"
        parts.append(Part("feed ", connected, "feed", keep=True, rank=0))
        for mode in self.venue_modes():
            style = "live" if mode.mode == "live" else "value"
            parts.append(Part("", mode.label, style, keep=True, minimum=len(mode.venue)))
        parts += self._risk_parts()
        parts += self._feed_parts()
        parts += self._load_parts()
        parts.append(Part("broker ", self.broker, "value", rank=7))
        if health.engine_id:
            parts.append(Part("engine ", health.engine_id, "value", rank=8))
        if health.ticks_per_s is not None:
            parts.append(Part("", f"{health.ticks_per_s:,.0f} ticks/s", "value", rank=9))
        if self.note:
            parts.append(Part("", self.note, "note", rank=10))
        return parts

    def _load_parts(self) -> list[Part]:
        """``sim lag 850ms 1,204,000 skipped`` while the engine cannot keep up with the
        simulator (nothing while it can)."""
        lag_ms, dropped = self.engine_load
        skipping = time.monotonic() - self._skipped_at < SKIPS_SHOWN_S
        if lag_ms < LAG_SHOWN_MS and not skipping:
            return []
        skipped = f" {dropped:,} skipped" if skipping else ""
        return [
            Part("sim lag ", f"{format_age(int(lag_ms * 1_000_000))}{skipped}", "paused", rank=3)
        ]

    def _feed_parts(self) -> list[Part]:
        """Per venue feed: ``UPBIT live 12ms ↻0`` (state, age of its last message, reconnects),
        then the venue's clock against ours (``UPBIT clock −6.0s``, highlighted from 1 s: shown
        apart because staleness never depends on it) and its incidents (``⚠ 2 gaps 1 crossed``).
        """
        if self.feeds is None:
            return []
        parts = []
        for row in self.feeds.feeds:
            age = format_age(row.age_ms * 1_000_000) if row.age_ms is not None else "-"
            style = "feed" if row.state == "live" else "paused"
            # A feed not live is news: it outranks the PnL's neighbours.
            rank = 4 if row.state == "live" else 1
            value = f"{row.state} {age} ↻{row.reconnects}"
            parts.append(Part(f"{row.venue} feed ", value, style, rank=rank))
            if row.clock_offset_ms is not None:
                off = abs(row.clock_offset_ms) >= CLOCK_WARN_MS
                clock = format_clock_offset(row.clock_offset_ms)
                parts.append(
                    Part(f"{row.venue} clock ", clock, "paused" if off else "value", rank=5)
                )
            incidents = feed_incidents(row)
            if incidents:
                parts.append(Part(f"{row.venue} ⚠ ", incidents, "paused", rank=6))
        return parts

    def _risk_parts(self) -> list[Part]:
        risk = self.risk
        if risk is None:
            return []
        pnl = parse_decimal(risk.daily_pnl) or 0
        style = "profit" if pnl > 0 else "loss" if pnl < 0 else "value"
        amount = format_amount(risk.daily_pnl, risk.currency, signed=True)
        parts = [Part("PnL ", f"{amount} {risk.currency}", style, rank=1)]
        if risk.paused:
            parts.append(Part("paused ", f"{len(risk.paused)}", "paused", rank=2))
        return parts

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"status-line--{name}", partial=True)
