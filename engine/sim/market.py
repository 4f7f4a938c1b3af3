"""The market simulator: deterministic, realistic book and trade events for many instruments.

Each instrument has its own order flow (:mod:`engine.sim.order_flow`) on its own book
(:mod:`engine.sim.sim_book`), driven by a self-exciting arrival clock (:mod:`engine.sim.arrivals`).
The flows are merged in time order through a heap of their next action times. Once per simulated
second the intraday profile, the volatility-clustering factor and each instrument's share of the
configured event rate are refreshed (:mod:`engine.sim.volatility`).

Determinism: every random draw comes from one ``random.Random(seed)`` in the order the actions
happen, and an action's time is drawn when the previous action of that instrument is performed.
:meth:`MarketSimulator.step` only performs actions whose time has come, so the event sequence is
the same however the calls to ``step`` are chunked. The simulator never reads the wall clock.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left
from collections.abc import Sequence

from engine.domain.fixed_point import to_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, MarketBatch
from engine.sim.arrivals import BurstClock
from engine.sim.catalog import SimSpec, sim_spec
from engine.sim.distributions import NORMAL_TABLE, TABLE_SIZE, lognormal_size_table
from engine.sim.order_flow import EXTRA_LEVELS, OrderFlow
from engine.sim.sim_book import FLOOR_LEVELS, MAX_SWEEP_LEVELS, SimBook, build_grid
from engine.sim.volatility import (
    CLUSTER_LOG_SD,
    NS_PER_SECOND,
    TRADING_SECONDS_PER_YEAR,
    cluster_factor,
    cluster_step,
    intraday_profile,
    variance_multiplier,
)

MAX_BOOK_DEPTH = 100
CRYPTO_PRICE_RANGE = 2.5
"""Crypto prices stay within this factor of the start price (no daily limit there)."""
LATENT_REVERSION_S = 30 * 86_400.0
"""The latent mid drifts back toward the start price over about a month (keeps a long run sane)."""
TRADE_SIZE_SIGMA = 1.2
LEVEL_SIZE_SIGMA = 0.8
JOIN_SIZE_SIGMA = 1.0


class MarketSimulator:
    """Book and trade events for a set of instruments at ``rate`` events per simulated second.

    ``indexes[i]`` is the engine's instrument index written into events of ``instruments[i]``.
    Instruments must be in the simulator's catalogue (:func:`engine.sim.catalog.sim_instrument`).
    """

    def __init__(
        self,
        instruments: Sequence[Instrument],
        indexes: Sequence[int],
        *,
        seed: int,
        rate: float,
        book_depth: int = 20,
        start_ns: int,
    ) -> None:
        if len(instruments) != len(indexes):
            raise ValueError("instruments and indexes must have the same length")
        if not 1 <= book_depth <= MAX_BOOK_DEPTH:
            raise ValueError(f"book_depth {book_depth} must be between 1 and {MAX_BOOK_DEPTH}")
        _check_rate(rate)
        self._random = random.Random(seed)
        self._start_ns = start_ns
        self._now = 0
        """Offset (ns from start) up to which events have been emitted."""
        self._rate = float(rate)
        self._instruments = tuple(instruments)
        self._specs = [sim_spec(instrument.id.symbol) for instrument in instruments]
        self._prev_close: list[int] = []
        self._base_variance: list[float] = []
        self._flows = [
            self._build_flow(instrument, spec, index, book_depth)
            for instrument, spec, index in zip(instruments, self._specs, indexes, strict=True)
        ]
        self._log_volatility = [CLUSTER_LOG_SD * self._normal() for _ in self._flows]
        self._shares = [1.0 / max(1, len(self._flows))] * len(self._flows)
        self._refreshed_at = 0
        self._refresh_at = 0.0
        self._refresh(0.0)
        self._heap = [
            (flow.clock.advance(0, 0), position) for position, flow in enumerate(self._flows)
        ]
        heapq.heapify(self._heap)

    # --- public API ---------------------------------------------------------------------------

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return self._instruments

    @property
    def rate(self) -> float:
        """Configured total events per simulated second across all instruments."""
        return self._rate

    @property
    def now_ns(self) -> int:
        """The time up to which events have been emitted (``start_ns`` before the first step)."""
        return self._start_ns + self._now

    def prev_close_raw(self, position: int) -> int:
        """Reference (base) price of the instrument at ``position``, for change percentages."""
        return self._prev_close[position]

    def levels(self, position: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The simulator's own book: ``(bids, asks)``, ``(price_raw, size_raw)`` from the touch."""
        book = self._flows[position].book
        return book.levels(BID), book.levels(ASK)

    def latent_mid(self, position: int) -> float:
        """The latent fair price the touch follows (raw units, float; for tests and charts)."""
        return self._flows[position].latent_mid

    def snapshot(self, out: MarketBatch) -> int:
        """For every instrument a BOOK_CLEAR then its levels as BOOK_LEVEL; returns the count."""
        count = 0
        for flow in self._flows:
            book = flow.book
            book.attach(out)
            book.ts = self.now_ns
            count += book.emit_snapshot()
        return count

    def step(self, until_ns: int, out: MarketBatch) -> int:
        """Append every event with ``ts_event <= until_ns`` in time order; return how many."""
        until = until_ns - self._start_ns
        if until <= self._now:
            return 0
        if not self._heap:  # no instruments
            self._now = until
            return 0
        flows = self._flows
        for flow in flows:
            flow.book.attach(out)
        count_before = len(out.kind)
        heap = self._heap
        replace = heapq.heapreplace
        limit = until + 1  # int(offset) <= until  <=>  offset < until + 1 (offsets are >= 0)
        refresh_at = self._refresh_at
        while True:
            offset, position = heap[0]
            if offset >= limit:
                break
            if offset >= refresh_at:
                self._refresh(offset)
                refresh_at = self._refresh_at
            replace(heap, (flows[position].act(offset), position))
        self._now = until
        return len(out.kind) - count_before

    def skip(self, ns: int) -> None:
        """Move the simulator's timeline ``ns`` later without generating the events in between.

        For back-pressure (:mod:`engine.sim.pacing`): the market goes on from where it was, its
        next events stamped ``ns`` later, so timestamps stay in order and nothing is replayed.
        """
        if ns <= 0:
            return
        self._start_ns += ns
        for flow in self._flows:
            flow.start_ns += ns

    def set_rate(self, rate: float) -> None:
        """Change the total event rate from now on (pending arrivals are rescaled)."""
        _check_rate(rate)
        stretch = self._rate / rate
        self._rate = float(rate)
        self._retarget()
        now = float(self._now)
        self._heap = [(now + (offset - now) * stretch, pos) for offset, pos in self._heap]
        heapq.heapify(self._heap)

    # --- construction -------------------------------------------------------------------------

    def _build_flow(
        self, instrument: Instrument, spec: SimSpec, index: int, book_depth: int
    ) -> OrderFlow:
        table = instrument.tick_table
        origin = table.round_down(to_raw(spec.start_price, instrument.price_precision))
        if instrument.daily_limit is not None:
            low = table.round_up(int(origin * (1 - instrument.daily_limit)))
            high = table.round_down(int(origin * (1 + instrument.daily_limit)))
        else:
            low = table.round_up(int(origin / CRYPTO_PRICE_RANGE))
            high = table.round_down(int(origin * CRYPTO_PRICE_RANGE))
        grid = build_grid(table, low, high)
        origin_index = bisect_left(grid, origin)
        keep_high = max(book_depth, FLOOR_LEVELS) + EXTRA_LEVELS
        margin = keep_high + MAX_SWEEP_LEVELS + 10
        span = (margin, len(grid) - 1 - margin)
        if not span[0] < origin_index < span[1]:
            raise ValueError(
                f"book_depth {book_depth} is too deep for {instrument.id}'s price range "
                f"({len(grid)} ticks between its price bounds)"
            )
        draw = self._random.random
        scale = 10**instrument.size_precision
        lot = instrument.lot_size_raw
        level_sizes = lognormal_size_table(spec.level_size, LEVEL_SIZE_SIGMA, scale, lot)

        def fresh_size() -> int:
            return level_sizes[int(draw() * TABLE_SIZE)]

        book = SimBook(grid, index, draw, fresh_size)
        flow = OrderFlow(
            book,
            BurstClock(draw),
            draw,
            origin_index=origin_index,
            latent_span=span,
            book_depth=book_depth,
            lot=lot,
            trade_sizes=lognormal_size_table(spec.trade_size, TRADE_SIZE_SIGMA, scale, lot),
            join_sizes=lognormal_size_table(spec.level_size / 4, JOIN_SIZE_SIGMA, scale, lot),
            start_ns=self._start_ns,
        )
        self._prev_close.append(origin)
        seconds_per_year = TRADING_SECONDS_PER_YEAR[spec.kind]
        self._base_variance.append(spec.volatility**2 / seconds_per_year / NS_PER_SECOND)
        return flow

    # --- once per simulated second ------------------------------------------------------------

    def _normal(self) -> float:
        return NORMAL_TABLE[int(self._random.random() * TABLE_SIZE)]

    def _refresh(self, offset: float) -> None:
        """Advance the slow state to the whole second containing ``offset``."""
        second = int(offset // NS_PER_SECOND)
        boundary = second * NS_PER_SECOND
        elapsed_s = (boundary - self._refreshed_at) / NS_PER_SECOND
        ts = self._start_ns + boundary
        reversion = math.exp(-elapsed_s / LATENT_REVERSION_S)
        weights = []
        for position, flow in enumerate(self._flows):
            spec = self._specs[position]
            profile = intraday_profile(spec.kind, ts)
            log_volatility = cluster_step(self._log_volatility[position], elapsed_s, self._normal())
            self._log_volatility[position] = log_volatility
            flow.variance_per_ns = (
                self._base_variance[position]
                * variance_multiplier(spec.kind, profile)
                * cluster_factor(log_volatility)
            )
            flow.latent *= reversion
            weights.append(spec.activity * profile)
        total = sum(weights)
        self._shares = [weight / total for weight in weights]
        self._retarget()
        self._refreshed_at = boundary
        self._refresh_at = float(boundary + NS_PER_SECOND)

    def _retarget(self) -> None:
        for flow, share in zip(self._flows, self._shares, strict=True):
            flow.clock.retarget(self._rate * share)


def _check_rate(rate: float) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
        raise ValueError(f"rate {rate!r} must be a positive number of events per second")
