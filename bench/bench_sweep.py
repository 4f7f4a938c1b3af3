"""Sweep throughput: a 100-set (fast, slow) grid of the two-moving-average template through the
optimizer (``stom optimize``'s driver and pool) on the vector path, against a bare pure-Python
loop over the same trades, measured in the same run.

    python bench/bench_sweep.py [--trades N] [--jobs N] [--check N]

Workload: one real-shaped day (``bench/real_shaped.py``: one trade per ``ts_init``, quote changes
as book-level batches between trades, about 25 trades/s; 2,000,000 trades by default) and
``strategies/two_ma.py`` with take-profit and stop-loss at 4 basis points, 1,000,000 KRW per
entry, fast in 5, 10, ... 50 and slow in 60, 80, ... 240 trades (100 sets), paper defaults
(20 ms order latency, taker fees). The daily-loss and drawdown limits are raised to 10^12 KRW:
the fastest windows lose more than the default 5,000,000 KRW to fees, the engine's kill switch
would stop them, and the vector path refuses (rather than imitates) a run where it may trip.

Prints: the bare loop's trades/s (the template's logic over the day's trade prices, instant
fills); the sweep's wall time (pool start, decoding the data and compile included), its
combo-trades/s (sets x trades / wall) and the ratio to the bare loop, and how many trials took
each path; the same sweep again, the decoded data now cached (``docs/vector-path.md``); then
``--check`` sets re-run through the full event path with whether their fills are identical.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_backtest import bare_two_ma  # noqa: E402
from bench.real_shaped import trade_prices, write_real_shaped  # noqa: E402
from engine.config.settings import Settings  # noqa: E402
from engine.optimize.driver import run_study, space_of  # noqa: E402
from engine.optimize.executors import LocalExecutor  # noqa: E402
from engine.optimize.study import Study, StudySpec  # noqa: E402
from engine.optimize.trial import TrialEvaluator, TrialTask  # noqa: E402
from engine.strategy.loader import load_strategy_class  # noqa: E402

STRATEGY = ROOT / "strategies" / "two_ma.py"
OVERRIDES = {
    "fast": "5:50:5",
    "slow": "60:240:20",
    "take_profit_bps": "4",
    "stop_loss_bps": "4",
    "order_value": "1000000",
}
LOSS_LIMIT = {"KRW": "1000000000000"}


def bench_settings() -> Settings:
    settings = Settings()
    risk = msgspec.structs.replace(
        settings.risk, daily_loss_limit=LOSS_LIMIT, max_drawdown=LOSS_LIMIT
    )
    return msgspec.structs.replace(settings, risk=risk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=2_000_000, help="trades in the day")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the sweep")
    parser.add_argument("--check", type=int, default=2, help="sets re-run on the event path")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.jobs} worker(s)")
    settings = bench_settings()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ticks"
        started = time.perf_counter()
        report = write_real_shaped(root, trades_per_day=args.trades)
        made = time.perf_counter() - started
        print(f"dataset: real-shaped, {report.trades:,} trades, {report.events:,} events, "
              f"{report.batches:,} batches, one day ({made:.1f} s)")  # fmt: skip
        prices = trade_prices(root)
        spec = StudySpec(
            strategy_file=str(STRATEGY),
            data_dir=str(root),
            method="grid",
            objective="total_return",
            trials=100,
            overrides=OVERRIDES,
        )
        space = space_of(spec, load_strategy_class(str(STRATEGY)))
        for name in ("sweep", "again"):
            # The machine's speed drifts (shared cores): the bare loop runs right before each.
            started = time.perf_counter()
            trips = bare_two_ma(prices, 20, 100, 4, 4)
            bare = len(prices) / (time.perf_counter() - started)
            print(f"bare pure-Python two-MA loop: {bare:,.0f} trades/s ({trips} round trips)")
            study = Study.open(Path(folder) / "studies", name, spec)
            started = time.perf_counter()
            executor = LocalExecutor(spec, settings, args.jobs)
            try:
                result = run_study(study, space, executor, rechecks=0)
            finally:
                executor.close()
            wall = time.perf_counter() - started
            study.close(result.state)
            progress = result.progress
            sets = progress.evaluated
            rate = sets * report.trades / wall
            busy = sum(record.wall_s for record in study.trials.values())
            what = "decoding the data" if name == "sweep" else "the decoded data cached"
            print(f"{name}, {sets} sets, {args.jobs} jobs ({what}): {wall:.1f} s wall, pool "
                  f"start and compile included ({busy:.1f} s inside trials) = {rate:,.0f} "
                  f"combo-trades/s, ratio to the bare loop {rate / bare:.1f}")  # fmt: skip
            print(f"  paths: {progress.vector} vector, {progress.event} event "
                  f"{dict(progress.event_reasons) or ''}")  # fmt: skip
        checker = TrialEvaluator(spec, settings, cache=False)
        picked = sorted(study.trials.values(), key=lambda r: r.number)[:: max(1, sets // 3)]
        for record in picked[: args.check]:
            started = time.perf_counter()
            outcome = checker.evaluate(TrialTask(record.key, record.params, recheck=True))
            event_s = time.perf_counter() - started - outcome.wall_s
            print(f"check {record.key}: {outcome.recheck} ({outcome.recheck_fills} fills; "
                  f"event path {event_s:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
