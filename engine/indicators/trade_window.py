"""Sums over the trades of a rolling window: volume, notional, aggressive buy volume.

The window is the last ``ticks`` trades and/or the trades of the last ``ns`` nanoseconds
(``(ts - ns, ts]``); with both, a trade leaves when either says so. The trades sit in a
preallocated ring of parallel lists; a time window whose ring fills up doubles it (rare, and
amortized), so a steady stream allocates nothing.

:class:`VWAP` and :class:`BuySellPressure` are the same window read two ways; one
:class:`TradeWindow` can feed both when a strategy wants both over the same window.
"""

from __future__ import annotations

from engine.domain.market_data import BID

INITIAL_TIME_CAPACITY = 1024


class TradeWindow:
    """Rolling sums over trades (raw price and size ints; sums stay exact)."""

    __slots__ = (
        "_buy",
        "_head",
        "_price",
        "_size",
        "_ts",
        "buy_volume",
        "count",
        "notional",
        "ns",
        "ticks",
        "volume",
    )

    def __init__(self, *, ticks: int | None = None, ns: int | None = None) -> None:
        if ticks is None and ns is None:
            raise ValueError("a trade window needs ticks, ns or both")
        if ticks is not None and ticks < 1:
            raise ValueError(f"window ticks must be at least 1, not {ticks}")
        if ns is not None and ns < 1:
            raise ValueError(f"window ns must be at least 1, not {ns}")
        self.ticks = ticks
        self.ns = ns
        capacity = ticks if ticks is not None else INITIAL_TIME_CAPACITY
        self._ts = [0] * capacity
        self._price = [0] * capacity
        self._size = [0] * capacity
        self._buy = [False] * capacity
        self._head = 0
        self.count = 0
        """Trades in the window."""
        self.volume = 0
        """Sum of sizes in the window (raw)."""
        self.notional = 0
        """Sum of price x size in the window (raw price x raw size)."""
        self.buy_volume = 0
        """Sum of sizes of buyer-initiated trades in the window (raw)."""

    def update(self, price: int, size: int, side: int, ts: int) -> None:
        """Add one trade (``side`` is the aggressor, as in ``on_trade``) and evict what left."""
        ns = self.ns
        if ns is not None:
            self._evict_before(ts - ns)
        capacity = len(self._ts)
        if self.count == capacity:
            if self.ticks is not None and self.count == self.ticks:
                self._evict_one()
            else:
                self._grow()
                capacity = len(self._ts)
        slot = self._head + self.count
        if slot >= capacity:
            slot -= capacity
        buy = side == BID
        self._ts[slot] = ts
        self._price[slot] = price
        self._size[slot] = size
        self._buy[slot] = buy
        self.count += 1
        self.volume += size
        self.notional += price * size
        if buy:
            self.buy_volume += size

    def expire(self, now_ns: int) -> None:
        """Drop trades older than the time window at ``now_ns`` (quiet markets age out too)."""
        if self.ns is not None:
            self._evict_before(now_ns - self.ns)

    @property
    def sell_volume(self) -> int:
        return self.volume - self.buy_volume

    def reset(self) -> None:
        self._head = self.count = 0
        self.volume = self.notional = self.buy_volume = 0

    # --- internals ---------------------------------------------------------------------------

    def _evict_before(self, cutoff: int) -> None:
        """Evict trades with ``ts <= cutoff``."""
        timestamps = self._ts
        while self.count and timestamps[self._head] <= cutoff:
            self._evict_one()

    def _evict_one(self) -> None:
        head = self._head
        size = self._size[head]
        self.volume -= size
        self.notional -= self._price[head] * size
        if self._buy[head]:
            self.buy_volume -= size
        self.count -= 1
        head += 1
        self._head = 0 if head == len(self._ts) else head

    def _grow(self) -> None:
        head, count = self._head, self.count
        for name in ("_ts", "_price", "_size", "_buy"):
            old = getattr(self, name)
            ordered = old[head:] + old[:head]
            setattr(self, name, ordered + [ordered[0]] * count)
        self._head = 0


class VWAP(TradeWindow):
    """Volume-weighted average price over the window, in raw price units (a float)."""

    __slots__ = ()

    @property
    def value(self) -> float:
        """0.0 while the window holds no volume."""
        return self.notional / self.volume if self.volume else 0.0


class BuySellPressure(TradeWindow):
    """The aggressive-buy share of the window's volume: 1.0 all buying, 0.0 all selling."""

    __slots__ = ()

    @property
    def value(self) -> float:
        """0.5 (balanced) while the window holds no volume."""
        return self.buy_volume / self.volume if self.volume else 0.5
