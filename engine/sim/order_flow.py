"""The order flow of one simulated instrument: what traders do to its book, action by action.

A latent "fair" mid price follows a random walk whose variance scales with the intraday profile,
the volatility-clustering factor and the current burst intensity. Each action is one of:

* reprice: the latent mid has moved beyond the touch, so either an aggressive order sweeps up to
  it (any remainder rests there and becomes the new touch) or the stale touch is cancelled;
* market order: heavy-tailed size, walks levels when larger than the touch; during a burst the
  aggressor side tends to repeat;
* limit add: inside the spread when there is room (pulling the touch toward the latent mid), or
  at a geometric distance from the touch, joining an existing level or opening a new one;
* cancel: part or all of a level, nearer the touch more often.

After each action each side is refilled (a new level in the nearest hole behind the touch, else
past the far end) or trimmed at the far end, one level at a time, so it holds about
``book_depth`` levels and refills gradually after a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.domain.market_data import ASK, BID
from engine.sim.arrivals import BurstClock
from engine.sim.distributions import NORMAL_TABLE, TABLE_SIZE, geometric_table
from engine.sim.sim_book import FLOOR_LEVELS, MAX_SWEEP_LEVELS, SimBook

P_TRADE_CALM = 0.12
P_TRADE_BURST = 0.50
"""A market order's share of actions rises from calm to this much more at the peak of a burst."""
ADD_SHARE = 0.55
"""Of the passive actions, the share that adds liquidity (the rest cancels)."""
INSIDE_SPREAD = 0.6
"""Chance an add lands inside the spread when the spread is wider than one tick."""
INSIDE_ONE_TICK = 0.7
"""Chance such an add improves the touch by exactly one tick (else anywhere in the spread)."""
REPRICE_BASE, REPRICE_PER_TICK = 0.4, 0.2
"""Chance of a repricing action when the latent mid is outside the touch (grows per tick)."""
BURST_SAME_SIDE = 0.7
FULL_CANCEL = 0.3
LEAN_WEIGHT = 0.6
EXTRA_LEVELS = 4
"""A side is trimmed once it holds this many levels more than the configured depth."""


class OrderFlow:
    """Latent price, arrival clock and trader behaviour of one instrument, acting on its book."""

    __slots__ = (
        "_join_sizes",
        "_offsets",
        "_random",
        "_trade_sizes",
        "book",
        "clock",
        "keep_high",
        "keep_low",
        "last_offset",
        "last_side",
        "latent",
        "latent_high",
        "latent_low",
        "lot",
        "origin_price",
        "start_ns",
        "variance_per_ns",
    )

    def __init__(
        self,
        book: SimBook,
        clock: BurstClock,
        random: Callable[[], float],
        *,
        origin_index: int,
        latent_span: tuple[int, int],
        book_depth: int,
        lot: int,
        trade_sizes: tuple[int, ...],
        join_sizes: tuple[int, ...],
        start_ns: int,
    ) -> None:
        grid = book.grid
        self.book = book
        self.clock = clock
        self._random = random
        self._trade_sizes = trade_sizes
        self._join_sizes = join_sizes
        self.keep_low = max(book_depth, FLOOR_LEVELS)
        self.keep_high = self.keep_low + EXTRA_LEVELS
        self._offsets = geometric_table(0.8, self.keep_low)
        self.lot = lot
        self.start_ns = start_ns
        self.origin_price = float(grid[origin_index])
        self.latent = 0.0
        """Log of the latent mid relative to the origin price."""
        self.latent_low = math.log(grid[latent_span[0]] / self.origin_price)
        self.latent_high = math.log(grid[latent_span[1]] / self.origin_price)
        self.variance_per_ns = 0.0
        self.last_offset = 0.0
        self.last_side = BID
        book.seed_levels(origin_index, origin_index + 1, self.keep_low + 2)

    @property
    def latent_mid(self) -> float:
        """The latent fair price (float, raw units); the book's touch follows it."""
        return self.origin_price * math.exp(self.latent)

    def act(self, offset: float) -> float:
        """Perform the action due at ``offset`` ns after the start; return the next one's offset."""
        book, clock = self.book, self.clock
        book.ts = self.start_ns + int(offset)
        events_before = len(book.kinds)
        trades_before = book.trades
        activity = (clock.base + clock.excitation) / clock.target
        step_variance = self.variance_per_ns * (offset - self.last_offset) * activity
        self.last_offset = offset
        latent = (
            self.latent + math.sqrt(step_variance) * NORMAL_TABLE[int(self._random() * TABLE_SIZE)]
        )
        if latent > self.latent_high:
            latent = max(self.latent_low, 2.0 * self.latent_high - latent)
        elif latent < self.latent_low:
            latent = min(self.latent_high, 2.0 * self.latent_low - latent)
        self.latent = latent
        self._choose(self.origin_price * math.exp(latent))
        self._keep_depth()
        gap = clock.advance(len(book.kinds) - events_before, book.trades - trades_before)
        return offset + gap

    def _choose(self, mid: float) -> None:
        book, random = self.book, self._random
        grid = book.grid
        best_bid, best_ask = book.best_bid, book.best_ask
        bid_price, ask_price = grid[best_bid], grid[best_ask]
        if mid > ask_price:
            ticks = (mid - ask_price) / (ask_price - grid[best_ask - 1])
            if random() < REPRICE_BASE + REPRICE_PER_TICK * ticks:
                self._reprice(BID, best_ask + int(ticks))
                return
        elif mid < bid_price:
            ticks = (bid_price - mid) / (grid[best_bid + 1] - bid_price)
            if random() < REPRICE_BASE + REPRICE_PER_TICK * ticks:
                self._reprice(ASK, best_bid - int(ticks))
                return
        lean = (mid - 0.5 * (bid_price + ask_price)) / (ask_price - bid_price)
        lean = 0.5 if lean > 0.5 else -0.5 if lean < -0.5 else lean
        clock = self.clock
        burst = clock.excitation / (clock.base + clock.excitation)
        p_trade = P_TRADE_CALM + P_TRADE_BURST * burst
        draw = random()
        if draw < p_trade:
            self._market_order(lean, burst)
        elif draw < p_trade + (1.0 - p_trade) * ADD_SHARE:
            self._add(lean)
        else:
            self._cancel(lean)

    def _reprice(self, side: int, limit: int) -> None:
        """Move the touch toward the latent mid: sweep up to ``limit`` or fade the stale quote."""
        book, lot = self.book, self.lot
        if self._random() < 0.5:
            if side == BID:
                book.remove_ask(book.best_ask)
            else:
                book.remove_bid(book.best_bid)
            return
        if side == BID:
            limit = min(limit, book.best_ask + MAX_SWEEP_LEVELS - 1)
            wanted = book.depth_between(ASK, book.best_ask, limit)
        else:
            limit = max(limit, book.best_bid - MAX_SWEEP_LEVELS + 1)
            wanted = book.depth_between(BID, limit, book.best_bid)
        size = int(wanted * (0.6 + 0.7 * self._random())) // lot * lot or lot
        self.last_side = side
        if side == BID:
            rest = book.buy(limit, size)
            if rest:
                i = min(limit, book.best_ask - 1)
                book.set_bid(i, book.bid[i] + rest)
        else:
            rest = book.sell(limit, size)
            if rest:
                i = max(limit, book.best_bid + 1)
                book.set_ask(i, book.ask[i] + rest)

    def _market_order(self, lean: float, burst: float) -> None:
        random = self._random
        if burst > 0.25 and random() < BURST_SAME_SIDE:
            side = self.last_side
        else:
            side = BID if random() < 0.5 + LEAN_WEIGHT * lean else ASK
        size = self._trade_sizes[int(random() * TABLE_SIZE)]
        book = self.book
        if side == BID:
            book.buy(book.best_ask + MAX_SWEEP_LEVELS, size)
        else:
            book.sell(book.best_bid - MAX_SWEEP_LEVELS, size)
        self.last_side = side

    def _add(self, lean: float) -> None:
        book, random = self.book, self._random
        on_bid = random() < 0.5 + LEAN_WEIGHT * lean
        best_bid, best_ask = book.best_bid, book.best_ask
        spread = best_ask - best_bid
        if spread > 1 and random() < INSIDE_SPREAD:
            inside = 0 if random() < INSIDE_ONE_TICK else int(random() * (spread - 1))
            if on_bid:
                book.set_bid(best_bid + 1 + inside, book.fresh_size())
            else:
                book.set_ask(best_ask - 1 - inside, book.fresh_size())
            return
        offset = self._offsets[int(random() * TABLE_SIZE)]
        if on_bid:
            i, sizes = best_bid - offset, book.bid
            if i >= 0:
                resting = sizes[i]
                joined = self._join_sizes[int(random() * TABLE_SIZE)]
                book.set_bid(i, resting + joined if resting else book.fresh_size())
        else:
            i, sizes = best_ask + offset, book.ask
            if i < len(sizes):
                resting = sizes[i]
                joined = self._join_sizes[int(random() * TABLE_SIZE)]
                book.set_ask(i, resting + joined if resting else book.fresh_size())

    def _cancel(self, lean: float) -> None:
        book, random = self.book, self._random
        on_ask = random() < 0.5 + LEAN_WEIGHT * lean
        skip = self._offsets[int(random() * TABLE_SIZE)]
        if on_ask:
            sizes, i, end, step = book.ask, book.best_ask, book.far_ask, 1
        else:
            sizes, i, end, step = book.bid, book.best_bid, book.far_bid, -1
        while skip and i != end:
            i += step
            if sizes[i]:
                skip -= 1
        resting, lot = sizes[i], self.lot
        cut = int(resting * (0.1 + 0.6 * random())) // lot * lot or lot
        if cut >= resting or random() < FULL_CANCEL:
            if on_ask:
                book.remove_ask(i)
            else:
                book.remove_bid(i)
        elif on_ask:
            book.set_ask(i, resting - cut)
        else:
            book.set_bid(i, resting - cut)

    def _keep_depth(self) -> None:
        book = self.book
        if book.n_bid < self.keep_low:
            book.extend_bids()
        elif book.n_bid > self.keep_high:
            book.set_bid(book.far_bid, 0)
        if book.n_ask < self.keep_low:
            book.extend_asks()
        elif book.n_ask > self.keep_high:
            book.set_ask(book.far_ask, 0)
