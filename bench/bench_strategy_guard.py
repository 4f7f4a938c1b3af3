"""What the strategy watchdog costs per callback (engine/strategy/guard.py).

    python bench/bench_strategy_guard.py [--trades N] [--repeat R]

Two measurements, best of ``--repeat``:

1. The mechanism alone: the runner's inner dispatch loop over ``N`` trades calling a no-op
   ``on_trade``, as it is (``owner`` stored, ``calls`` bumped, ``owner`` cleared, the
   ``except BaseException`` barrier) against the same loop with only the barrier (what the
   runner did before the watchdog). Prints ns per callback of each, the difference and the ratio.
2. The real path: ``StrategyRunner.dispatch`` of one batch of ``N`` trades to a no-op strategy on
   the in-process desk (market state, dispatch tables, the guard), ns per callback, with the
   watchdog thread running.

Asserts nothing; prints the figures for docs/strategies.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.domain.market_data import BID, TRADE, MarketBatch  # noqa: E402
from engine.strategy.api import Strategy  # noqa: E402
from engine.strategy.guard import WATCHDOG  # noqa: E402
from tests.support.strategy_desk import StrategyDesk  # noqa: E402
from tests.support.trading import BTC  # noqa: E402


class _Entry:
    __slots__ = ("strategy_id",)

    def __init__(self) -> None:
        self.strategy_id = "bench"


def _on_trade(i: int, price: int, size: int, side: int, ts: int) -> None:
    return None


def _guarded_loop(handlers: list[tuple[_Entry, Callable[..., None]]], n: int) -> None:
    guard = WATCHDOG
    for _ in range(n):
        for entry, handler in handlers:
            try:
                guard.owner = entry
                guard.calls += 1
                handler(0, 1, 2, 0, 3)
                guard.owner = None
            except BaseException:
                guard.owner = None


def _barrier_only_loop(handlers: list[tuple[_Entry, Callable[..., None]]], n: int) -> None:
    for _ in range(n):
        for _entry, handler in handlers:
            try:  # noqa: SIM105 - the runner's own shape, which is what is measured
                handler(0, 1, 2, 0, 3)
            except BaseException:
                pass


def _best(run: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        best = min(best, time.perf_counter_ns() - started)
    return best


class _Noop(Strategy):
    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = args.trades, args.repeat
    WATCHDOG.start()

    handlers = [(_Entry(), _on_trade)]
    guarded = _best(lambda: _guarded_loop(handlers, n), repeat) / n
    bare = _best(lambda: _barrier_only_loop(handlers, n), repeat) / n
    print(f"mechanism: guarded {guarded:.1f} ns/callback, barrier only {bare:.1f} ns/callback")
    print(f"           watchdog cost {guarded - bare:.1f} ns/callback, ratio {guarded / bare:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        desk = StrategyDesk(Path(tmp))
        try:
            desk.runner.add(_Noop, {}, [BTC], strategy_id="noop")
            batch = MarketBatch()
            now = desk.desk.clock.now_ns()
            for k in range(n):
                batch.append(TRADE, desk.index, BID, 50_000_000 + (k % 7) * 1_000, 1_000, now)
            desk.runner.dispatch(MarketBatch(), now)  # on_start
            real = _best(lambda: desk.runner.dispatch(batch, now), repeat) / n
        finally:
            desk.close()
    print(f"real path: StrategyRunner.dispatch {real:.1f} ns/callback (incl. the guard)")


if __name__ == "__main__":
    main()
