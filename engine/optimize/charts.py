"""Terminal charts as plain text lines: an equity curve, its drawdown, a histogram.

Plain strings (no Textual, no rich markup), so the CLI prints them and an app screen can show
them in a ``Static``. Line charts use the eight block heights of each character cell per column
(``▁`` … ``█``), several rows high; histograms are horizontal bars with counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCKS = " ▁▂▃▄▅▆▇█"


def _columns(values: Sequence[float] | np.ndarray, width: int) -> np.ndarray:
    """``values`` resampled to ``width`` columns (the last value of each column's span)."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) <= width:
        return data
    ends = np.linspace(0, len(data), width + 1)[1:].astype(int) - 1
    return data[ends]


def line_chart(
    values: Sequence[float] | np.ndarray, *, width: int = 72, height: int = 8, title: str = ""
) -> list[str]:
    """A filled line chart, ``height`` rows of block characters, with min/max labels."""
    if width < 1 or height < 1:
        raise ValueError(f"a chart needs a positive size, got {width}x{height}")
    data = _columns(values, width)
    lines = [title] if title else []
    if not len(data):
        return [*lines, "(no data)"]
    low, high = float(data.min()), float(data.max())
    span = high - low or 1.0
    # Each column's height in eighths of a cell, at least one eighth so the line is visible.
    levels = np.maximum(1, np.rint((data - low) / span * height * 8)).astype(int)
    label_width = max(len(_number(high)), len(_number(low)))
    for row in range(height, 0, -1):
        floor = (row - 1) * 8
        cells = "".join(BLOCKS[min(8, max(0, level - floor))] for level in levels)
        label = _number(high) if row == height else _number(low) if row == 1 else ""
        lines.append(f"{label:>{label_width}} │{cells}")
    return lines


def drawdown_series(equity: Sequence[float] | np.ndarray) -> np.ndarray:
    """Drawdown of an equity curve as a fraction of its running peak (0 at a new high)."""
    data = np.asarray(equity, dtype=np.float64)
    if not len(data):
        return data
    peaks = np.maximum.accumulate(data)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, (peaks - data) / peaks, 0.0)


def histogram(
    values: Sequence[float] | np.ndarray, *, bins: int = 12, width: int = 50, title: str = "",
    percent: bool = False,
) -> list[str]:  # fmt: skip
    """Horizontal bars: one line per bin with its range and count."""
    data = np.asarray(values, dtype=np.float64)
    lines = [title] if title else []
    if not len(data):
        return [*lines, "(no data)"]
    counts, edges = np.histogram(data, bins=bins)
    top = int(counts.max()) or 1
    show = _percent if percent else _number
    labels = [f"{show(edges[i])} .. {show(edges[i + 1])}" for i in range(len(counts))]
    label_width = max(len(label) for label in labels)
    for label, count in zip(labels, counts, strict=True):
        bar = "█" * round(count / top * width)
        lines.append(f"{label:>{label_width}} │{bar} {count}")
    return lines


def _number(value: float) -> str:
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"
