"""Counters the app keeps about itself (for the status line, tests and benchmarks)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

LATENCY_SAMPLES = 100_000


@dataclass
class AppMetrics:
    """Messages handled per type, malformed payloads, and tick-to-screen latencies."""

    handled: Counter[str] = field(default_factory=Counter)
    """Messages handled, by message class name."""
    malformed: int = 0
    """Payloads that could not be decoded."""
    latencies_ns: deque[int] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    """Handled time minus ``ts_event`` for each TickersUpdated / BookUpdated."""
    first_live_frame_ns: int | None = None
    """When the first ticker snapshot was on screen (app clock)."""
