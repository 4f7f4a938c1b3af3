"""Where the tick store lives (no polars import: the engine's start path needs only this)."""

from __future__ import annotations

from pathlib import Path


def store_root(data_dir: str, recorder_dir: str = "") -> Path:
    """The tick store everything shares: ``[recorder] dir`` if set, else ``<data.dir>/ticks``.

    The recorder writes here, and ``stom data sample``, backtests and optimizations read here by
    default, so a recording is what a backtest replays with no flag.
    """
    if recorder_dir:
        return Path(recorder_dir).expanduser()
    return Path(data_dir).expanduser() / "ticks"
