"""What the status line says: engine presence, heartbeat, data freshness and feed connection.

Pure logic over what the feed delivered and the app's clock, so it can be tested without a
screen. The heartbeat is measured on the app's own clock at the moment stats arrive, so a skewed
engine clock never makes a live engine look dead (or a dead one look alive).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.protocol.payloads import EngineStats, EngineStatus

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
    """Now minus the newest ``ts_event`` seen, or None before any market data."""
    stale: bool
    feed_connected: bool
    engine_id: str | None
    ticks_per_s: float | None


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

    def on_status(self, status: EngineStatus) -> None:
        self.status = status

    def on_stats(self, stats: EngineStats, now_ns: int) -> None:
        self.stats = stats
        self._last_heartbeat_ns = now_ns

    def on_tick(self, ts_event: int) -> None:
        if self.newest_tick_ns is None or ts_event > self.newest_tick_ns:
            self.newest_tick_ns = ts_event

    def on_feed(self, connected: bool, reason: str | None) -> None:
        self.feed_connected = connected
        self.feed_reason = reason

    def heartbeat_overdue(self, now_ns: int) -> bool:
        # Before the first heartbeat, give the engine one keepalive from app start.
        since = self._last_heartbeat_ns if self._last_heartbeat_ns is not None else self._started_ns
        return now_ns - since > self.keepalive_ns

    def evaluate(self, now_ns: int) -> Health:
        state, offline, reason = self._engine_state(now_ns)
        age = None if self.newest_tick_ns is None else now_ns - self.newest_tick_ns
        return Health(
            state=state,
            offline=offline,
            reason=reason,
            tick_age_ns=age,
            stale=age is None or age > STALE_AFTER_NS,
            feed_connected=self.feed_connected,
            engine_id=self.status.engine_id if self.status else None,
            ticks_per_s=None if offline or self.stats is None else self.stats.ticks_per_s,
        )

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
