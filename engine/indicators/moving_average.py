"""Simple and exponential moving averages, updated one value at a time."""

from __future__ import annotations


class SMA:
    """The mean of the last ``period`` values.

    A preallocated ring and a running sum: O(1) per update, nothing allocated. Integer inputs
    (raw prices) keep the sum exact, so the mean never drifts; float inputs accumulate the usual
    rounding of a running sum.
    """

    __slots__ = ("_position", "_ring", "count", "period", "total")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be at least 1, not {period}")
        self.period = period
        self._ring: list[int | float] = [0] * period
        self._position = 0
        self.count = 0
        """Values seen so far (saturates at ``period``)."""
        self.total: int | float = 0

    @property
    def ready(self) -> bool:
        """True once ``period`` values have been seen."""
        return self.count == self.period

    @property
    def value(self) -> float:
        """The mean of the values in the window (of those seen, before it is full; 0.0 if none)."""
        return self.total / self.count if self.count else 0.0

    def update(self, value: int | float) -> float:
        position = self._position
        if self.count == self.period:
            self.total += value - self._ring[position]
        else:
            self.total += value
            self.count += 1
        self._ring[position] = value
        position += 1
        self._position = 0 if position == self.period else position
        return self.total / self.count

    def reset(self) -> None:
        self._position = self.count = 0
        self.total = 0


class EMA:
    """Exponential moving average with ``alpha = 2 / (period + 1)``, seeded like TA-Lib.

    The first value is the simple mean of the first ``period`` inputs (TA-Lib's ``EMA``), then
    ``ema += alpha * (x - ema)``. Before ``period`` inputs, ``value`` is the mean so far.
    """

    __slots__ = ("_seed", "alpha", "count", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be at least 1, not {period}")
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self.count = 0
        self._seed: int | float = 0
        self.value = 0.0

    @property
    def ready(self) -> bool:
        return self.count >= self.period

    def update(self, value: int | float) -> float:
        if self.count >= self.period:
            self.value = (value - self.value) * self.alpha + self.value
            return self.value
        self.count += 1
        self._seed += value
        self.value = self._seed / self.count
        return self.value

    def reset(self) -> None:
        self.count = 0
        self._seed = 0
        self.value = 0.0
