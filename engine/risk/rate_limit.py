"""A sliding-window count of order submissions."""

from __future__ import annotations

from collections import deque

from engine.risk.limits import NS_PER_S


class SlidingWindowLimiter:
    """At most ``limit`` events in any window of ``window_ns``, judged at each new event.

    A sliding window (not a fixed second) so a burst straddling a second boundary is still
    caught: 20 orders at 0.9 s and 20 more at 1.1 s are 40 inside one second.
    """

    __slots__ = ("_times", "limit", "window_ns")

    def __init__(self, limit: int, window_ns: int = NS_PER_S) -> None:
        if limit < 1 or window_ns < 1:
            raise ValueError(
                f"a rate limit needs a positive limit and window, got {limit} in {window_ns} ns"
            )
        self.limit = limit
        self.window_ns = window_ns
        self._times: deque[int] = deque()

    def count(self, now_ns: int) -> int:
        """Events in the window ending at ``now_ns`` (older ones are forgotten)."""
        times = self._times
        oldest_kept = now_ns - self.window_ns
        while times and times[0] <= oldest_kept:
            times.popleft()
        return len(times)

    def allows(self, now_ns: int) -> bool:
        """Whether one more event at ``now_ns`` stays within the limit."""
        return self.count(now_ns) < self.limit

    def record(self, now_ns: int) -> None:
        self._times.append(now_ns)
