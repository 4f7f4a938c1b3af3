"""Time bars built incrementally from trades, identical in live, paper and backtest."""

from __future__ import annotations

from collections import deque

from engine.domain.market_data import Bar

NS_PER_S = 1_000_000_000
TIMEFRAME_NS = {"1s": NS_PER_S, "1m": 60 * NS_PER_S, "5m": 300 * NS_PER_S, "15m": 900 * NS_PER_S}


class BarSeries:
    """Bars of one timeframe for one instrument.

    A bar covers ``[ts_open, ts_open + interval)``. Intervals without trades have no bar (as on
    the venues). A bar closes when a trade arrives in a later interval or when
    :meth:`close_until` is told time has passed its end; closed bars go to ``history`` (bounded)
    and to ``newly_closed`` until the publisher takes them. A trade whose interval has already
    closed counts in the next bar: bars never repeat or go back.
    """

    __slots__ = ("_end", "current", "history", "interval_ns", "newly_closed", "timeframe")

    def __init__(self, timeframe: str, history: int) -> None:
        self.timeframe = timeframe
        self.interval_ns = TIMEFRAME_NS[timeframe]
        self.current: Bar | None = None
        self._end = 0
        self.history: deque[Bar] = deque(maxlen=history)
        self.newly_closed: list[Bar] = []

    def on_trade(self, ts: int, price: int, size: int) -> None:
        bar = self.current
        if bar is not None and ts < self._end:
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume += size
            bar.trades += 1
            return
        if bar is not None:
            self._close()
        interval = self.interval_ns
        # A trade late for a bar that time already closed (its venue time lags the clock that
        # closed it) opens the next bar, as a late trade joins the forming one: no two bars
        # share an interval.
        ts_open = max(ts - ts % interval, self._end)
        self._end = ts_open + interval
        self.current = Bar(ts_open, price, price, price, price, size, 1)

    def close_until(self, now_ns: int) -> None:
        """Close the forming bar if its interval ended before ``now_ns``."""
        if self.current is not None and now_ns >= self._end:
            self._close()

    def _close(self) -> None:
        bar = self.current
        assert bar is not None
        self.history.append(bar)
        self.newly_closed.append(bar)
        self.current = None

    def take_closed(self) -> list[Bar]:
        closed = self.newly_closed
        if closed:
            self.newly_closed = []
        return closed
