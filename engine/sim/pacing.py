"""Back-pressure for the simulator: bounded work per engine turn, bounded lag, counted drops.

The simulator emits every event up to the time it is asked for. Driven by the wall clock at a
rate the engine cannot process, each turn has more to do than the last: the engine falls further
behind without limit, its batches (and memory) grow, and nothing else in the event loop runs
(the issue measured 192 s without an answer and 3 GB at ``sim.rate=1000000``).

:class:`SimPacer` bounds both:

* **work per turn**: one turn advances simulated time by at most ``max_turn_events / rate``
  seconds (the time in which the simulator emits about that many events), so a turn's batch, and
  the time the event loop spends on it, are bounded whatever the rate;
* **lag**: when the simulator is more than ``max_lag_ns`` behind the wall clock it skips ahead to
  the wall clock (:meth:`~engine.sim.market.MarketSimulator.skip`): the events of the skipped
  time are never generated. Their expected number (rate x skipped time) is counted as dropped.

Below capacity neither bound is ever reached and the event sequence is exactly the unpaced one.
The lag (wall clock minus the simulator's time after each turn) is kept for ``engine/stats``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TypedDict

from engine.sim.market import MarketSimulator

MAX_TURN_EVENTS = 2_000
"""About this many events per engine turn at most: ~10-30 ms of work through the whole engine
(apply, paper exchange, strategies) at 5-15 us per event, so commands are answered promptly."""
MAX_LAG_S = 1.0
"""Further behind than this, the simulator skips ahead to the wall clock (and counts the drop)."""
LAG_WINDOW = 12_000
"""Lag samples kept for the percentile: a minute of turns at 200 turns per second."""


class SimPacer:
    """Decides how far the simulator goes each turn of the engine's market loop."""

    def __init__(
        self,
        simulator: MarketSimulator,
        *,
        max_turn_events: int = MAX_TURN_EVENTS,
        max_lag_s: float = MAX_LAG_S,
        window: int = LAG_WINDOW,
    ) -> None:
        self.simulator = simulator
        self.max_turn_events = max_turn_events
        self.max_lag_ns = int(max_lag_s * 1e9)
        self._lags: deque[int] = deque(maxlen=window)
        self.lag_ns = 0
        """Wall clock minus the simulator's time after the latest turn."""
        self.max_lag_seen_ns = 0
        """The largest lag since start (before any skip: how far behind it really fell)."""
        self.skips = 0
        """Times the simulator skipped ahead."""
        self.skipped_ns = 0
        """Simulated time skipped in total."""
        self.dropped_events = 0
        """Events not generated because their time was skipped (expected count: rate x time)."""

    def target(self, now_ns: int) -> int:
        """The time to run the simulator up to in this turn (``<= now_ns``); may skip first."""
        simulator = self.simulator
        behind = now_ns - simulator.now_ns
        if behind > self.max_lag_ns:
            self.max_lag_seen_ns = max(self.max_lag_seen_ns, behind)
            # Not generated at all: skipping costs nothing, however far behind the engine is.
            simulator.skip(behind)
            self.skips += 1
            self.skipped_ns += behind
            self.dropped_events += round(simulator.rate * behind / 1e9)
            return now_ns
        turn_ns = math.ceil(self.max_turn_events / simulator.rate * 1e9)
        return min(now_ns, simulator.now_ns + turn_ns)

    def turn_done(self, now_ns: int) -> None:
        """Record the lag after a turn (``now_ns``: the wall clock the turn started at)."""
        lag = max(0, now_ns - self.simulator.now_ns)
        self.lag_ns = lag
        self.max_lag_seen_ns = max(self.max_lag_seen_ns, lag)
        self._lags.append(lag)

    @property
    def behind(self) -> bool:
        """More than a turn's work behind: the loop should go on at once, not sleep."""
        return self.lag_ns * self.simulator.rate > self.max_turn_events * 1e9

    def lag_percentile_ns(self, fraction: float) -> int:
        """The ``fraction`` quantile (0.99: p99) of the lag over the last ``window`` turns."""
        if not self._lags:
            return 0
        ordered = sorted(self._lags)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class PacingStats(TypedDict):
    """The ``sim_*`` fields of ``EngineStats`` (engine/protocol/payloads.py)."""

    sim_lag_ms: float
    sim_lag_p99_ms: float
    sim_lag_max_ms: float
    sim_dropped: int


def pacing_stats(pacer: SimPacer | None) -> PacingStats:
    """The pacer's figures as the ``sim_*`` fields of ``EngineStats`` (zeros: no simulator)."""
    if pacer is None:
        return {"sim_lag_ms": 0.0, "sim_lag_p99_ms": 0.0, "sim_lag_max_ms": 0.0, "sim_dropped": 0}
    return {
        "sim_lag_ms": round(pacer.lag_ns / 1e6, 1),
        "sim_lag_p99_ms": round(pacer.lag_percentile_ns(0.99) / 1e6, 1),
        "sim_lag_max_ms": round(pacer.max_lag_seen_ns / 1e6, 1),
        "sim_dropped": pacer.dropped_events,
    }
