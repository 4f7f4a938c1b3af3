"""Sweep throughput: 100 (fast, slow) combinations of the two-moving-average tick strategy on one
recording, through the fast path (:mod:`engine.optimize.fast_two_ma`), against one full backtest.

    python bench/bench_sweep.py [--ticks N] [--jobs N] [--check N] [--seed N]

Workload: the ``bench/bench_backtest.py`` dataset (``stom data sample`` data: KRW-BTC and KRW-ETH
from the simulator, 2,000 events per simulated second, 5 ms batches, 2 days; 2,000,000 events by
default) and ``tests/strategies/two_ma.py`` with take-profit and stop-loss at 4 basis points, fast
in 5, 10, ... 50 and slow in 60, 80, ... 240 trades (100 sets). Paper defaults (20 ms order
latency, taker fees). The daily-loss and drawdown limits are raised to 10^12 KRW for every run
here: the fastest windows lose more than the default 5,000,000 KRW to fees, the engine's kill
switch would stop them, and the fast path refuses (rather than imitates) a run where it may trip.

The sweep splits the sets over ``--jobs`` worker processes (default 2); each replays the recording
once for all of its sets. Prints, in one run: the full backtest's ticks/s; the sweep's
parameter-set-ticks/s (sets x events / wall time, dataset already on disk); their ratio; then
``--check`` randomly chosen sets (seeded) re-run as full single backtests, with whether each
set's fills (time, instrument, side, price, quantity, fee) are identical. Asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backtest.request import BacktestRequest  # noqa: E402
from engine.backtest.run import BacktestResult, run_backtest  # noqa: E402
from engine.backtest.trades import FillRecord  # noqa: E402
from engine.config.settings import Settings  # noqa: E402
from engine.optimize.fast_two_ma import FastSetResult, sweep_two_ma  # noqa: E402
from engine.strategy.loader import load_strategy_class  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_backtest import make_dataset  # noqa: E402

STRATEGY = ROOT / "tests" / "strategies" / "two_ma.py"
FIXED: dict[str, int | float] = {"take_profit_bp": 4, "stop_loss_bp": 4}
SETS = [{"fast": f, "slow": s, **FIXED} for f in range(5, 55, 5) for s in range(60, 260, 20)]
LOSS_LIMIT = {"KRW": "1000000000000"}


def bench_settings() -> Settings:
    settings = Settings()
    risk = msgspec.structs.replace(
        settings.risk, daily_loss_limit=LOSS_LIMIT, max_drawdown=LOSS_LIMIT
    )
    return msgspec.structs.replace(settings, risk=risk)


def fill_key(fill: FillRecord) -> tuple[object, ...]:
    return (fill.ts, fill.instrument_id, fill.side, fill.price_raw, fill.quantity_raw,
            fill.fee_raw)  # fmt: skip


def sweep_part(root: str, sets: list[dict[str, int | float]]) -> tuple[list[FastSetResult], int]:
    declared = load_strategy_class(str(STRATEGY)).params
    return sweep_two_ma(root, sets, bench_settings(), declared=declared)


def full(root: Path, results: Path, params: dict[str, int | float]) -> BacktestResult:
    request = BacktestRequest(
        strategy_file=str(STRATEGY), data_dir=str(root), results_dir=str(results), params=params
    )
    return run_backtest(request, bench_settings())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2_000_000, help="events in the dataset")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the sweep")
    parser.add_argument("--check", type=int, default=3, help="sets re-run as full backtests")
    parser.add_argument("--seed", type=int, default=1, help="picks the sets to check")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.jobs} worker(s)")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ticks"
        rows = make_dataset(root, args.ticks, 2)
        print(f"dataset: {rows:,} events (KRW-BTC, KRW-ETH, 2 days); {len(SETS)} parameter sets")
        started = time.perf_counter()
        single = full(root, Path(folder) / "results", SETS[len(SETS) // 2])
        single_wall = time.perf_counter() - started
        single_rate = single.summary.ticks / single_wall
        parts = [SETS[job :: args.jobs] for job in range(args.jobs)]
        started = time.perf_counter()
        # spawn: polars' thread pool does not survive a fork.
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            outputs = list(pool.map(sweep_part, [str(root)] * args.jobs, parts))
        wall = time.perf_counter() - started
        events = outputs[0][1]
        by_params = {
            (r.params["fast"], r.params["slow"]): r for results, _ in outputs for r in results
        }
        rate = len(SETS) * events / wall
        fills = sum(len(r.fills) for r in by_params.values())
        print(f"full backtest, one set:  {single.summary.ticks:,} events in {single_wall:.2f} s "
              f"= {single_rate:,.0f} ticks/s ({single.summary.fills} fills)")  # fmt: skip
        print(f"fast sweep, {len(SETS)} sets:   {events:,} events x {len(SETS)} in {wall:.2f} s "
              f"= {rate:,.0f} parameter-set-ticks/s ({fills:,} fills in all)")  # fmt: skip
        print(
            f"ratio sweep / single backtest: {rate / single_rate:.1f} "
            "(target: >= 9,000,000 parameter-set-ticks/s on 2 cores)"
        )
        picked = random.Random(args.seed).sample(SETS, min(args.check, len(SETS)))
        for params in picked:
            reference = full(root, Path(folder) / "results", params)
            fast = by_params[(params["fast"], params["slow"])]
            same = [fill_key(f) for f in reference.fills] == [fill_key(f) for f in fast.fills]
            print(f"check fast={params['fast']:>3} slow={params['slow']:>3}: "
                  f"{len(reference.fills):,} fills in the full backtest, {len(fast.fills):,} "
                  f"in the sweep: {'identical' if same else 'DIFFERENT'}")  # fmt: skip


if __name__ == "__main__":
    main()
