"""What the status line says: engine presence, heartbeat, data freshness and feed connection.

Pure logic over what the feed delivered and the app's clock, so it can be tested without a
screen. The heartbeat is measured on the app's own clock at the moment stats arrive, so a skewed
engine clock never makes a live engine look dead (or a dead one look alive).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from engine.protocol.payloads import EngineStats, EngineStatus, FeedHealthRow, FeedsHealth

STALE_AFTER_NS = 2_000_000_000
"""Market data older than this is shown as stale."""

OFFLINE_STATES = frozenset({"offline", "stopped"})


@dataclass(frozen=True, slots=True)
class Health:
    """One evaluation of the engine and feed state, ready to display."""

    state: str
    """An engine state (``running``, ``degraded`` …, ``offline``) or ``waiting`` (none seen yet)."""
    offline: bool
    """True when the engine is gone (said so, or stopped sending heartbeats)."""
    reason: str | None
    tick_age_ns: int | None
    """How old the newest market data is, or None before any: by the engine's receive clock
    when venue feeds report it (``md/feeds``), else now minus the newest ``ts_event``."""
    stale: bool
    feed_connected: bool
    engine_id: str | None
    ticks_per_s: float | None
    venues: tuple[str, ...] = ()
    """The venues the engine streams (its status), e.g. ``("SIM", "UPBIT")``."""


class EnginePresence:
    """Tracks engine status, heartbeats, the newest tick and the feed connection."""

    def __init__(self, keepalive_s: float, started_ns: int) -> None:
        self.keepalive_ns = int(keepalive_s * 1_000_000_000)
        self._started_ns = started_ns
        self.status: EngineStatus | None = None
        self.stats: EngineStats | None = None
        self._last_heartbeat_ns: int | None = None
        self.newest_tick_ns: int | None = None
        self.feed_connected = False
        self.feed_reason: str | None = None
        self._venue_data: tuple[int, int] | None = None
        """(age of the venues' newest data, app time it was reported), from ``md/feeds``."""

    def on_status(self, status: EngineStatus) -> None:
        self.status = status

    def on_stats(self, stats: EngineStats, now_ns: int) -> None:
        self.stats = stats
        self._last_heartbeat_ns = now_ns

    def on_tick(self, ts_event: int) -> None:
        if self.newest_tick_ns is None or ts_event > self.newest_tick_ns:
            self.newest_tick_ns = ts_event

    def on_feeds(self, feeds: FeedsHealth, now_ns: int) -> None:
        """Venue feeds report how old their newest data is by the engine's receive clock. A
        venue's timestamps follow the venue's clock: a venue 6 s behind would make every tick
        look 6 s old (stale) and one ahead would hide a silent feed, so they are not used."""
        ages = [row.data_age_ms for row in feeds.feeds if row.data_age_ms is not None]
        self._venue_data = (min(ages) * 1_000_000, now_ns) if ages else None

    def on_feed(self, connected: bool, reason: str | None) -> None:
        self.feed_connected = connected
        self.feed_reason = reason

    def heartbeat_overdue(self, now_ns: int) -> bool:
        # Before the first heartbeat, give the engine one keepalive from app start.
        since = self._last_heartbeat_ns if self._last_heartbeat_ns is not None else self._started_ns
        return now_ns - since > self.keepalive_ns

    def evaluate(self, now_ns: int) -> Health:
        state, offline, reason = self._engine_state(now_ns)
        age = self._tick_age(now_ns)
        return Health(
            state=state,
            offline=offline,
            reason=reason,
            tick_age_ns=age,
            stale=age is None or age > STALE_AFTER_NS,
            feed_connected=self.feed_connected,
            engine_id=self.status.engine_id if self.status else None,
            ticks_per_s=None if offline or self.stats is None else self.stats.ticks_per_s,
            venues=tuple(self.status.venues) if self.status else (),
        )

    def _tick_age(self, now_ns: int) -> int | None:
        ticks = None if self.newest_tick_ns is None else now_ns - self.newest_tick_ns
        if self._venue_data is None:
            return ticks  # the simulator alone: its timestamps are the engine's clock
        age, reported = self._venue_data
        venues = age + max(0, now_ns - reported)
        simulated = self.status is not None and "SIM" in self.status.venues
        return min(venues, ticks) if simulated and ticks is not None else venues

    def _engine_state(self, now_ns: int) -> tuple[str, bool, str | None]:
        status = self.status
        if status is not None and status.state in OFFLINE_STATES:
            return status.state, True, status.reason
        if self.heartbeat_overdue(now_ns):
            if status is None and self._last_heartbeat_ns is None:
                return "offline", True, "no engine"
            return "offline", True, "no heartbeat"
        if status is None:
            # Heartbeats without a status (it is retained, so this is brief): alive all the same.
            return ("running" if self.stats is not None else "waiting"), False, None
        return status.state, False, status.reason


CLOCK_WARN_MS = 1000
"""A venue clock this far off ours is highlighted (it is shown, never used for staleness)."""


def format_clock_offset(offset_ms: int) -> str:
    """The venue's clock against ours: ``+0.04s``, ``−6.0s`` (a true minus sign)."""
    seconds = offset_ms / 1000
    sign = "+" if offset_ms >= 0 else "\u2212"
    magnitude = abs(seconds)
    return f"{sign}{magnitude:.2f}s" if magnitude < 1 else f"{sign}{magnitude:.1f}s"


def feed_incidents(row: FeedHealthRow) -> str:
    """What went wrong on a feed since the engine started, shortest first: ``2 gaps 1 crossed``
    (empty when nothing did). Reconnects are shown with the feed's state already."""
    counts = (
        (row.gaps, "gap", "gaps"),
        (row.crossed, "crossed", "crossed"),
        (row.malformed, "bad frame", "bad frames"),
        (row.disconnects, "drop", "drops"),
    )
    return " ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)


@dataclass(frozen=True, slots=True)
class VenueMode:
    """Where one venue's orders go: ``paper`` (the paper exchange) or ``live`` (real money),
    and for a live venue whether it is armed (``stom arm`` / the ``a`` key)."""

    venue: str
    mode: str
    armed: bool = False

    @property
    def label(self) -> str:
        """``SIM paper``, ``UPBIT LIVE armed``, ``UPBIT LIVE off`` (real money in capitals)."""
        if self.mode != "live":
            return f"{self.venue} paper"
        return f"{self.venue} LIVE {'armed' if self.armed else 'off'}"


def venue_modes(
    venues: Iterable[str], feeds: FeedsHealth | None, armed: Iterable[str] = ()
) -> list[VenueMode]:
    """Every venue of the engine with its mode. A venue feed reports its own mode; a venue
    without a feed row (the simulator) trades on the paper exchange only."""
    armed_set = {venue.upper() for venue in armed}
    modes = {row.venue.upper(): row.mode for row in feeds.feeds} if feeds else {}
    names = list(dict.fromkeys([*(venue.upper() for venue in venues), *modes]))
    return [
        VenueMode(name, modes.get(name, "paper"), name in armed_set and modes.get(name) == "live")
        for name in names
    ]


@dataclass(frozen=True, slots=True)
class EngineFailure:
    """Why the engine this console started did not come up, and what to do about it."""

    reason: str
    log_line: str | None
    """The engine's own words: its first error line (or its last line when it had none)."""
    log_path: str
    hint: str
    """What the user can do (fix a setting, free a port, attach to the other engine …)."""
    exited: bool = True
    """False: the engine logged an error but its process still runs (it may come up yet)."""


class OwnedEngine(Protocol):
    """The engine process this console started (``engine/cli/engine_launch.py``); a console
    attached to someone else's engine has none."""

    @property
    def pid(self) -> int: ...

    def failure(self) -> EngineFailure | None:
        """Why it failed to start, once that shows (non-blocking); None otherwise."""
        ...

    def mark_running(self) -> None:
        """It reported ``running``: stop watching for start failures."""
        ...

    def detach(self) -> None:
        """Leave it running when the console quits."""
        ...
