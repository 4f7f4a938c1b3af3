"""Precomputed draw tables: one uniform draw picks an entry, so the hot loop avoids slow samplers.

A table holds the quantiles of a distribution at ``(k + 0.5) / TABLE_SIZE``; indexing it with
``int(random() * TABLE_SIZE)`` draws from a fine discrete approximation of that distribution.
"""

from __future__ import annotations

import math
from statistics import NormalDist

TABLE_SIZE = 8192

NORMAL_TABLE: tuple[float, ...] = tuple(
    NormalDist().inv_cdf((k + 0.5) / TABLE_SIZE) for k in range(TABLE_SIZE)
)
"""Standard normal quantiles (tails reach about ±3.8 standard deviations)."""


def lognormal_size_table(median: float, sigma: float, scale: int, lot: int) -> tuple[int, ...]:
    """Raw sizes ``median * exp(sigma * Z)`` scaled by ``scale``, as positive multiples of ``lot``.

    A heavy right tail: with ``sigma = 1.2`` the largest entries are ~90 times the median.
    """
    sizes = []
    for z in NORMAL_TABLE:
        raw = median * math.exp(sigma * z) * scale
        sizes.append(max(1, round(raw / lot)) * lot)
    return tuple(sizes)


def geometric_table(keep: float, cap: int) -> tuple[int, ...]:
    """Offsets 0, 1, 2… with ``P(k) ∝ keep**k``, truncated at ``cap`` (closer is likelier)."""
    weights = [keep**k for k in range(cap + 1)]
    total = sum(weights)
    offsets: list[int] = []
    cumulative = 0.0
    for offset, weight in enumerate(weights):
        cumulative += weight / total
        while len(offsets) < TABLE_SIZE and (len(offsets) + 0.5) / TABLE_SIZE < cumulative:
            offsets.append(offset)
    offsets.extend([cap] * (TABLE_SIZE - len(offsets)))
    return tuple(offsets)
