"""Rules applied per channel: rate limits, and quiet hours in a time zone."""

from __future__ import annotations

import datetime as dt
from collections import deque
from zoneinfo import ZoneInfo

from engine.config.alert_settings import AlertRules, parse_quiet_hours

WINDOW_S = 60.0


class RateLimiter:
    """At most ``limit`` messages in any ``WINDOW_S`` seconds; counts what it refuses."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sent: deque[float] = deque()
        self.dropped = 0
        """Refused since the last message that went out (reported in that next message)."""
        self.dropped_total = 0

    def allow(self, now_s: float) -> bool:
        sent = self._sent
        while sent and now_s - sent[0] >= WINDOW_S:
            sent.popleft()
        if len(sent) >= self.limit:
            self.dropped += 1
            self.dropped_total += 1
            return False
        sent.append(now_s)
        return True

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped


class QuietHours:
    """Whether a moment falls in the quiet window (``[alerts.rules] quiet_hours``)."""

    def __init__(self, rules: AlertRules) -> None:
        self.window = parse_quiet_hours(rules.quiet_hours)
        self.zone = ZoneInfo(rules.timezone)
        self.allowed = frozenset(rules.quiet_events)

    def is_quiet(self, when: dt.datetime) -> bool:
        if self.window is None:
            return False
        local = when.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        start, end = self.window
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end  # the window crosses midnight

    def lets_through(self, kind: str, when: dt.datetime) -> bool:
        return kind in self.allowed or not self.is_quiet(when)
