"""TA-Lib over a bounded ring of closed bars: bar-based indicators (RSI, ATR, MACD, ...).

:class:`BarRing` keeps the last ``capacity`` closed bars as float64 columns. Each column is
written twice (at ``n`` and ``n + capacity``) so the newest ``capacity`` bars are always one
contiguous numpy view: TA-Lib reads it without a copy. :class:`TalibIndicator` names a TA-Lib
function and its parameters once, then gives its latest value(s) after each closed bar.

Indicators with an unstable start (RSI, ATR, EMA: Wilder or exponential smoothing) depend on how
much history they see; over a ring they equal TA-Lib over the same last ``capacity`` bars. Give
the ring several times the period (the default is 256 bars) for values close to an unbounded
history's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import talib
import talib.abstract

from engine.domain.market_data import Bar

COLUMNS = ("open", "high", "low", "close", "volume")


class BarRing:
    """The last ``capacity`` closed bars, as contiguous float64 views per column."""

    __slots__ = ("_columns", "_next", "capacity", "count", "precision")

    def __init__(self, capacity: int = 256, *, precision: int = 0) -> None:
        if capacity < 2:
            raise ValueError(f"bar ring capacity must be at least 2, not {capacity}")
        self.capacity = capacity
        self.precision = precision
        """Raw prices are divided by ``10**precision`` (0 keeps raw units)."""
        self._columns = {name: np.zeros(2 * capacity) for name in COLUMNS}
        self._next = 0
        self.count = 0

    def append(self, bar: Bar) -> None:
        scale = 10.0**self.precision
        slot, other = self._next, self._next + self.capacity
        for name, value in (
            ("open", bar.open / scale),
            ("high", bar.high / scale),
            ("low", bar.low / scale),
            ("close", bar.close / scale),
            ("volume", float(bar.volume)),
        ):
            column = self._columns[name]
            column[slot] = value
            column[other] = value
        self._next = 0 if slot + 1 == self.capacity else slot + 1
        if self.count < self.capacity:
            self.count += 1

    def column(self, name: str) -> np.ndarray:
        """The column's bars, oldest first (a view; valid until the next append)."""
        end = self._next + self.capacity
        return self._columns[name][end - self.count : end]


class TalibIndicator:
    """One TA-Lib function over a :class:`BarRing`, e.g. ``TalibIndicator("RSI", timeperiod=14)``.

    :meth:`update` appends a closed bar and returns the newest value (a float, or a tuple for
    functions with several outputs such as MACD; NaN while the ring is too short).
    """

    __slots__ = ("_function", "_inputs", "_params", "name", "outputs", "ring")

    def __init__(self, name: str, *, ring: BarRing | None = None, **params: Any) -> None:
        upper = name.upper()
        if upper not in talib.get_functions():
            raise ValueError(f"TA-Lib has no function {name!r}")
        # TA-Lib's abstract.pyi leaves out Function, which abstract.py defines.
        info = talib.abstract.Function(upper)  # type: ignore[attr-defined]
        unknown = sorted(set(params) - set(info.parameters))
        if unknown:
            raise ValueError(
                f"TA-Lib {upper} takes {', '.join(info.parameters) or 'no parameters'}, "
                f"not {', '.join(unknown)}"
            )
        inputs: list[str] = []
        for value in info.input_names.values():
            inputs.extend([value] if isinstance(value, str) else value)
        missing = [column for column in inputs if column not in COLUMNS]
        if missing:
            raise ValueError(f"TA-Lib {upper} needs {', '.join(missing)}, which bars do not have")
        self.name = upper
        self.outputs = tuple(info.output_names)
        self.ring = ring if ring is not None else BarRing()
        self._function = getattr(talib, upper)
        self._inputs = tuple(inputs)
        self._params = params

    def update(self, bar: Bar) -> float | tuple[float, ...]:
        self.ring.append(bar)
        return self.latest()

    def latest(self) -> float | tuple[float, ...]:
        """The newest value over the bars in the ring (without appending)."""
        columns = [self.ring.column(name) for name in self._inputs]
        result = self._function(*columns, **self._params)
        if isinstance(result, tuple):
            return tuple(float(series[-1]) if len(series) else float("nan") for series in result)
        return float(result[-1]) if len(result) else float("nan")
