"""Intraday profiles, volatility clustering and the simulator's draw tables."""

from __future__ import annotations

import random
import statistics

import pytest

from engine.sim.distributions import (
    NORMAL_TABLE,
    TABLE_SIZE,
    geometric_table,
    lognormal_size_table,
)
from engine.sim.volatility import (
    CLUSTER_LOG_SD,
    SESSION_CLOSE_S,
    SESSION_OPEN_S,
    STOCK_OFF_HOURS_LEVEL,
    cluster_factor,
    cluster_step,
    crypto_day_profile,
    intraday_profile,
    seconds_of_day_kst,
    stock_session_profile,
    variance_multiplier,
)

HOUR = 3600
SECOND_NS = 1_000_000_000


def test_kst_is_utc_plus_nine() -> None:
    assert seconds_of_day_kst(0) == 9 * HOUR
    assert seconds_of_day_kst(15 * HOUR * SECOND_NS) == 0
    # 2024-01-02 00:00 UTC is 09:00 in Seoul: the KRX opens.
    assert seconds_of_day_kst(1_704_153_600 * SECOND_NS) == SESSION_OPEN_S


def test_stock_profile_is_u_shaped_over_the_session() -> None:
    opening = stock_session_profile(SESSION_OPEN_S + 60)
    midday = stock_session_profile(12 * HOUR)
    closing = stock_session_profile(SESSION_CLOSE_S - 60)
    assert opening > 2.5 * midday
    assert closing > 1.5 * midday
    assert opening > closing
    assert stock_session_profile(3 * HOUR) == STOCK_OFF_HOURS_LEVEL
    assert stock_session_profile(SESSION_CLOSE_S) == STOCK_OFF_HOURS_LEVEL
    session = range(SESSION_OPEN_S, SESSION_CLOSE_S, 10)
    assert statistics.fmean(stock_session_profile(s) for s in session) == pytest.approx(1, abs=0.01)


def test_crypto_profile_is_a_mild_daily_cycle_with_mean_one() -> None:
    values = [crypto_day_profile(s) for s in range(0, 86_400, 60)]
    assert statistics.fmean(values) == pytest.approx(1.0, abs=1e-9)
    assert 0.7 < min(values) < max(values) < 1.3
    assert intraday_profile("crypto", 0) == crypto_day_profile(9 * HOUR)


def test_variance_multiplier_averages_one_over_the_day() -> None:
    session = range(SESSION_OPEN_S, SESSION_CLOSE_S, 10)
    stock = [variance_multiplier("stock", stock_session_profile(s)) for s in session]
    assert statistics.fmean(stock) == pytest.approx(1, abs=0.01)
    day = range(0, 86_400, 10)
    crypto = [variance_multiplier("crypto", crypto_day_profile(s)) for s in day]
    assert statistics.fmean(crypto) == pytest.approx(1, abs=0.01)


def test_volatility_clustering_is_stationary_with_mean_one() -> None:
    draw = random.Random(3)
    log_factor = 0.0
    factors, logs = [], []
    for _ in range(200_000):
        log_factor = cluster_step(log_factor, 60.0, draw.gauss(0.0, 1.0))
        logs.append(log_factor)
        factors.append(cluster_factor(log_factor))
    assert statistics.pstdev(logs) == pytest.approx(CLUSTER_LOG_SD, rel=0.05)
    assert statistics.fmean(factors) == pytest.approx(1.0, rel=0.05)
    # Memory: consecutive minutes are strongly correlated.
    assert statistics.correlation(logs[:-1], logs[1:]) > 0.9


def test_normal_table_is_standard_normal() -> None:
    assert len(NORMAL_TABLE) == TABLE_SIZE
    assert statistics.fmean(NORMAL_TABLE) == pytest.approx(0.0, abs=1e-9)
    assert statistics.pstdev(NORMAL_TABLE) == pytest.approx(1.0, abs=0.01)
    assert list(NORMAL_TABLE) == sorted(NORMAL_TABLE)


def test_lognormal_sizes_are_lots_with_a_heavy_tail() -> None:
    sizes = lognormal_size_table(0.01, 1.2, 10**8, 5)
    assert all(size > 0 and size % 5 == 0 for size in sizes)
    assert sizes[TABLE_SIZE // 2] == pytest.approx(1_000_000, rel=0.01)
    assert sizes[-1] > 50 * sizes[TABLE_SIZE // 2]
    assert min(lognormal_size_table(0.001, 1.0, 1, 1)) == 1  # never zero


def test_geometric_offsets_prefer_the_touch() -> None:
    offsets = geometric_table(0.8, 20)
    assert len(offsets) == TABLE_SIZE
    counts = [offsets.count(k) for k in range(21)]
    assert counts[0] > counts[1] > counts[5] > counts[15] > 0
    assert counts[1] / counts[0] == pytest.approx(0.8, rel=0.02)
    assert max(offsets) == 20
