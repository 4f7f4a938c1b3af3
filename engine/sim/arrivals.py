"""When the next market event of one instrument happens: a self-exciting (Hawkes) clock.

Intensity (events per nanosecond) is ``base + excitation``. Every printed trade adds
``TRIGGERED_PER_TRADE * decay`` to the excitation, which then decays exponentially, so each trade
brings on average ``TRIGGERED_PER_TRADE`` further events soon after: trades come in bursts.

The long-run event rate is ``base / (1 - TRIGGERED_PER_TRADE * p)`` where ``p`` is the share of
events that are trades. The clock estimates ``p`` from what it has seen and sets ``base`` so the
instrument's mean rate is the target rate it is given.

An action of the simulator emits several events at one timestamp; :meth:`BurstClock.advance`
spends one inter-arrival time per event before the next action, so the configured rate counts
events, not actions. Next-event times are drawn exactly (Dassios and Zhao's method for an
exponential kernel), one event at a time, from a shared seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

TRIGGERED_PER_TRADE = 1.9
"""Expected events set off by one trade (the branching ratio is this times the trade share)."""
BURST_EVENTS = 25.0
"""A burst decays over about this many events of the instrument's mean rate."""
MIN_DECAY_PER_S = 20.0
MAX_DECAY_PER_S = 200.0
"""Burst lifetimes stay between 0.5 ms and 2 s whatever the configured rate."""
_PRIOR_EVENTS = 400
_PRIOR_TRADE_SHARE = 0.27
_MIN_BASE_SHARE = 0.15


class BurstClock:
    """The arrival process of one instrument's events (times in float nanoseconds)."""

    __slots__ = ("_random", "base", "decay", "events", "excitation", "jump", "target", "trades")

    def __init__(self, random: Callable[[], float]) -> None:
        self._random = random
        self.target = 1e-9
        """Target mean intensity, events per nanosecond."""
        self.base = self.target
        self.decay = MIN_DECAY_PER_S * 1e-9
        self.jump = 0.0
        self.excitation = 0.0
        self.events = 0
        self.trades = 0

    def retarget(self, events_per_second: float) -> None:
        """Aim at a new mean rate; rescales the current excitation with it."""
        old_target = self.target
        self.target = max(events_per_second, 1e-6) * 1e-9
        trade_share = (self.trades + _PRIOR_TRADE_SHARE * _PRIOR_EVENTS) / (
            self.events + _PRIOR_EVENTS
        )
        self.base = self.target * max(_MIN_BASE_SHARE, 1.0 - TRIGGERED_PER_TRADE * trade_share)
        decay_per_s = min(MAX_DECAY_PER_S, max(MIN_DECAY_PER_S, events_per_second / BURST_EVENTS))
        self.decay = decay_per_s * 1e-9
        self.jump = TRIGGERED_PER_TRADE * self.decay
        self.excitation *= self.target / old_target

    @property
    def activity(self) -> float:
        """Current intensity relative to the target mean (1.0 = average, 5.0 = a burst)."""
        return (self.base + self.excitation) / self.target

    def advance(self, events: int, trades: int) -> float:
        """Nanoseconds until the next action after one that emitted ``events`` and ``trades``."""
        self.events += events
        self.trades += trades
        excitation = self.excitation + trades * self.jump
        random, log, exp = self._random, math.log, math.exp
        base, decay = self.base, self.decay
        total = 0.0
        for _ in range(events if events > 0 else 1):
            gap = -log(1.0 - random()) / base
            if excitation > 1e-30:
                fade = 1.0 + decay * log(1.0 - random()) / excitation
                if fade > 0.0:
                    excited_gap = -log(fade) / decay
                    if excited_gap < gap:  # noqa: PLR1730 (hot loop: no call)
                        gap = excited_gap
            excitation *= exp(-decay * gap)
            total += gap
        self.excitation = excitation
        return total
