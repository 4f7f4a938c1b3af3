"""Types of the compiled lane (``compiled_lane.pyx``; absent where it was not built)."""

from collections.abc import Callable, Sequence
from typing import Any

from engine.backtest.replay import ReplayChunk
from engine.pipeline import TickPipeline
from engine.strategy.runner import StrategyRunner

SOURCE_SHA256: str

def run_one_instrument(
    pipeline: TickPipeline,
    runner: StrategyRunner,
    chunk: ReplayChunk,
    j: int,
    stop_ns: int,
    table: Sequence[Sequence[tuple[Any, Callable[..., None]]] | None],
) -> int: ...
