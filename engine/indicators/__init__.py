"""Incremental indicators for strategies: O(1) per update, no per-tick allocation.

- :class:`SMA`, :class:`EMA`: moving averages over the last ``period`` values (ints stay exact in
  the running sum; ``value`` is a float).
- :class:`TradeWindow` and its views :class:`VWAP` and :class:`BuySellPressure`: sums over the
  trades of a rolling window counted in ticks and/or nanoseconds.
- :class:`BarRing` and :class:`TalibIndicator`: TA-Lib functions (RSI, ATR, ...) over a bounded
  ring of closed bars, for bar-based signals.

Every indicator matches its batch counterpart (numpy or TA-Lib over the same inputs);
``tests/test_indicators.py`` checks that with property tests.
"""

from __future__ import annotations

from engine.indicators.moving_average import EMA, SMA
from engine.indicators.talib_bars import BarRing, TalibIndicator
from engine.indicators.trade_window import VWAP, BuySellPressure, TradeWindow

__all__ = ["EMA", "SMA", "VWAP", "BarRing", "BuySellPressure", "TalibIndicator", "TradeWindow"]
