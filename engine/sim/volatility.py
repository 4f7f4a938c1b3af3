"""How active and how volatile a simulated market is at a given moment.

Two multipliers shape both the event rate and the volatility of the latent mid price:

* an intraday profile: a U shape over the KRX continuous session for stocks (busy open, quiet
  lunch, busier close) and a milder 24-hour cycle for crypto (busiest in the Korean evening);
* volatility clustering: the log of a volatility factor follows an Ornstein-Uhlenbeck process with
  a twenty-minute memory, so calm and turbulent stretches alternate.

Both have mean one over a day, so the configured annual volatility and event rate hold on average.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.domain.instrument import InstrumentKind

NS_PER_SECOND = 1_000_000_000
KST_OFFSET_NS = 9 * 3600 * NS_PER_SECOND
"""Korea Standard Time is UTC+9 all year (no daylight saving)."""

SECONDS_PER_DAY = 86_400
SESSION_OPEN_S = 9 * 3600
SESSION_CLOSE_S = 15 * 3600 + 30 * 60
"""KRX regular session 09:00-15:30 KST (continuous trading, then the closing auction)."""
_SESSION_LENGTH_S = SESSION_CLOSE_S - SESSION_OPEN_S

STOCK_OFF_HOURS_LEVEL = 0.35
"""Outside the session stocks keep trading in the simulator (so a demo is alive at any hour), at
this quiet level, as on an after-hours venue."""

# U shape: level + open spike decaying over ~20 minutes + close ramp over the last ~15 minutes.
_U_LEVEL, _U_OPEN, _U_OPEN_DECAY, _U_CLOSE, _U_CLOSE_DECAY = 0.7, 2.0, 0.05, 0.9, 0.04
_U_MEAN = _U_LEVEL + _U_OPEN * _U_OPEN_DECAY + _U_CLOSE * _U_CLOSE_DECAY

_CRYPTO_SWING = 0.25
_CRYPTO_PEAK_S = 22.5 * 3600
"""Crypto on Upbit is busiest in the Korean late evening."""

TRADING_SECONDS_PER_YEAR: dict[InstrumentKind, float] = {
    "stock": 252 * _SESSION_LENGTH_S,
    "crypto": 365 * SECONDS_PER_DAY,
}
"""Seconds over which an annual volatility accrues: session time for stocks, all time for crypto."""

CLUSTER_MEMORY_S = 1200.0
"""Mean-reversion time of the volatility-clustering factor."""
CLUSTER_LOG_SD = 0.35
"""Stationary standard deviation of the log volatility factor."""


def seconds_of_day_kst(ts_ns: int) -> float:
    """Seconds since midnight in Korea for a UTC timestamp."""
    return ((ts_ns + KST_OFFSET_NS) % (SECONDS_PER_DAY * NS_PER_SECOND)) / NS_PER_SECOND


def stock_session_profile(seconds_kst: float) -> float:
    """Activity and volatility multiplier for a KRX stock at a time of day (mean 1 in session)."""
    if not SESSION_OPEN_S <= seconds_kst < SESSION_CLOSE_S:
        return STOCK_OFF_HOURS_LEVEL
    elapsed = (seconds_kst - SESSION_OPEN_S) / _SESSION_LENGTH_S
    shape = (
        _U_LEVEL
        + _U_OPEN * math.exp(-elapsed / _U_OPEN_DECAY)
        + _U_CLOSE * math.exp(-(1.0 - elapsed) / _U_CLOSE_DECAY)
    )
    return shape / _U_MEAN


def crypto_day_profile(seconds_kst: float) -> float:
    """Activity and volatility multiplier for crypto at a time of day (mean 1 over 24 hours)."""
    phase = 2.0 * math.pi * (seconds_kst - _CRYPTO_PEAK_S) / SECONDS_PER_DAY
    return 1.0 + _CRYPTO_SWING * math.cos(phase)


def intraday_profile(kind: InstrumentKind, ts_ns: int) -> float:
    """The intraday multiplier for an instrument kind at a UTC timestamp."""
    seconds = seconds_of_day_kst(ts_ns)
    return stock_session_profile(seconds) if kind == "stock" else crypto_day_profile(seconds)


def cluster_step(log_factor: float, elapsed_s: float, normal_draw: float) -> float:
    """Advance the log volatility factor by ``elapsed_s`` (exact OU transition)."""
    keep = math.exp(-elapsed_s / CLUSTER_MEMORY_S)
    return log_factor * keep + CLUSTER_LOG_SD * math.sqrt(1.0 - keep * keep) * normal_draw


def cluster_factor(log_factor: float) -> float:
    """The variance multiplier of the clustering factor, normalised to mean one."""
    return math.exp(2.0 * log_factor - 2.0 * CLUSTER_LOG_SD * CLUSTER_LOG_SD)


def _mean_square(profile: Callable[[float], float], start_s: float, length_s: float) -> float:
    points = 2000
    values = (profile(start_s + (k + 0.5) * length_s / points) for k in range(points))
    return sum(value * value for value in values) / points


_MEAN_SQUARE: dict[InstrumentKind, float] = {
    "stock": _mean_square(stock_session_profile, SESSION_OPEN_S, _SESSION_LENGTH_S),
    "crypto": _mean_square(crypto_day_profile, 0.0, SECONDS_PER_DAY),
}


def variance_multiplier(kind: InstrumentKind, profile: float) -> float:
    """Variance scale for an intraday ``profile`` value; averages one over the trading day."""
    return profile * profile / _MEAN_SQUARE[kind]
