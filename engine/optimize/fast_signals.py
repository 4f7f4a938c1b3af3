"""Vectorized signals of the two-moving-average strategy (``tests/strategies/two_ma.py``).

The strategy's decisions depend only on its own instrument's trade prices and on its state
(flat, order working, long with an entry price). For one (fast, slow) pair, both window sums of
every trade are computed at once with a cumulative sum, and the trades where the fast average
crosses above the slow one are found with numpy. The one-pass sweep
(:mod:`engine.optimize.fast_two_ma`) then jumps from decision to decision instead of calling the
strategy on every trade:

* flat: the next trade where ``above`` is true and was false at the previous flat evaluation;
* long: the next trade at or beyond the take-profit or stop-loss of the entry price.

The integer arithmetic is the strategy's own (``fast_sum * slow > slow_sum * fast``,
``price * 10_000 >= entry * (10_000 + take_profit_bp)``), in int64 where the bound check in
:func:`check_int64` says it cannot overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from engine.backtest.replay import ReplayPlan, read_day_merged
from engine.domain.market_data import TRADE
from engine.storage.tick_store import TickStore

INT64_SAFE = 1 << 62
NOT_FOUND = -1
FIRST_CHUNK = 512
"""Trades examined by the first step of an exit search (doubling after each miss)."""


class FastPathUnsupported(ValueError):
    """The fast path cannot promise fills identical to a full backtest for this input."""


@dataclass(frozen=True, slots=True)
class TradeTape:
    """One instrument's trades in replay order: raw prices and their rows in the replay."""

    price: np.ndarray
    """int64 raw prices."""
    row: np.ndarray
    """int64 position of each trade among all replayed events (all instruments)."""

    def first_at_or_after(self, row: int) -> int:
        """Index of the first trade whose replay row is ``row`` or later."""
        return int(self.row.searchsorted(row))


def read_tapes(store: TickStore, plan: ReplayPlan) -> list[TradeTape]:
    """Every instrument's trades, read the way :func:`replay_batches` orders events."""
    prices: list[list[np.ndarray]] = [[] for _ in plan.indexes]
    rows: list[list[np.ndarray]] = [[] for _ in plan.indexes]
    slot_of = {index: slot for slot, index in enumerate(plan.indexes)}
    has_book = [False] * len(plan.instrument_ids)
    offset = 0
    for day in plan.days:
        merged = read_day_merged(store, plan, day, has_book)
        if not merged.height:
            continue
        trades = (
            merged.select("kind", "instrument", "price")
            .with_row_index("row")
            .filter(pl.col("kind") == TRADE)
        )
        for index, slot in slot_of.items():
            own = trades.filter(pl.col("instrument") == index)
            prices[slot].append(own["price"].to_numpy().astype(np.int64))
            rows[slot].append(own["row"].to_numpy().astype(np.int64) + offset)
        offset += merged.height
    return [
        TradeTape(
            np.concatenate(p) if p else np.zeros(0, np.int64),
            np.concatenate(r) if r else np.zeros(0, np.int64),
        )
        for p, r in zip(prices, rows, strict=True)
    ]


def check_int64(tape: TradeTape, fast: int, slow: int) -> None:
    """Refuse windows whose integer products could overflow int64 on this tape."""
    if not len(tape.price):
        return
    top = int(tape.price.max())
    if top < 0 or top * 10_000 * 2 >= INT64_SAFE or top * len(tape.price) >= INT64_SAFE:
        raise FastPathUnsupported(f"prices up to {top} are too large for the int64 fast path")
    if top * slow * max(fast, slow) >= INT64_SAFE:
        raise FastPathUnsupported(
            f"windows fast={fast}, slow={slow} with prices up to {top} overflow int64"
        )


class CrossSignals:
    """Where the fast average is above the slow one, for one tape and one (fast, slow)."""

    __slots__ = ("above", "crosses", "prices_10k", "slow")

    def __init__(self, tape: TradeTape, prices_10k: np.ndarray, fast: int, slow: int) -> None:
        if fast < 1 or slow < 1 or fast > slow:
            raise FastPathUnsupported(
                f"the fast path needs 1 <= fast <= slow, got fast={fast}, slow={slow} (the "
                "strategy's ring buffer only holds the slow window)"
            )
        check_int64(tape, fast, slow)
        prices = tape.price
        count = len(prices)
        sums = np.zeros(count + 1, np.int64)
        np.cumsum(prices, out=sums[1:])
        ends = np.arange(1, count + 1)
        fast_sum = sums[ends] - sums[np.maximum(ends - fast, 0)]
        slow_sum = sums[ends] - sums[np.maximum(ends - slow, 0)]
        self.above = fast_sum * slow > slow_sum * fast
        """``above[k]``: the comparison after trade ``k`` (meaningful from ``slow - 1`` on)."""
        rising = np.flatnonzero(self.above[1:] & ~self.above[:-1]) + 1
        self.crosses = rising[rising >= slow]
        """Trades where ``above`` turns true and the previous trade was evaluated too."""
        self.prices_10k = prices_10k
        self.slow = slow

    def next_entry(self, start: int, previous_above: bool) -> int:
        """First trade from ``start`` on where a flat strategy buys, or NOT_FOUND.

        ``previous_above`` is the comparison the strategy stored at its last flat evaluation;
        every trade from ``start`` on is a flat evaluation until the one returned.
        """
        first = max(start, self.slow - 1)
        above = self.above
        if first >= len(above):
            return NOT_FOUND
        # Warm-up trades (before ``slow - 1``) store nothing, so ``previous_above`` still holds.
        if above[first] and not previous_above:
            return first
        position = int(self.crosses.searchsorted(first + 1))
        return int(self.crosses[position]) if position < len(self.crosses) else NOT_FOUND

    def next_exit(self, start: int, entry: int, take_profit_bp: int, stop_loss_bp: int) -> int:
        """First trade from ``start`` on at the take-profit or stop-loss, or NOT_FOUND."""
        high = entry * 10_000 + entry * take_profit_bp
        low = entry * 10_000 - entry * stop_loss_bp
        scaled = self.prices_10k
        count = len(scaled)
        chunk = FIRST_CHUNK
        while start < count:
            window = scaled[start : start + chunk]
            hits = np.flatnonzero((window >= high) | (window <= low))
            if len(hits):
                return start + int(hits[0])
            start += chunk
            chunk *= 2
        return NOT_FOUND
