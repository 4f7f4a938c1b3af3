"""Backtest throughput and memory: recorded ticks through the full path (strategy, runner, risk,
OMS, paper fill model) versus a minimal pure-Python loop over the same ticks.

    python bench/bench_backtest.py [--ticks N] [--memory-base N] [--skip-memory]

Workload: ``stom data sample`` data (KRW-BTC and KRW-ETH from the simulator, 2,000 events per
simulated second, 5 ms batches, split over days) and ``tests/strategies/two_ma.py`` (two moving
averages of trade prices, take-profit and stop-loss, market orders), default paper settings
(20 ms order latency). "Ticks" are market events: book-level updates and trades.

Prints, in one run: ticks/s of the backtest; ticks/s of a pure-Python loop that reads the same
replay (Parquet → batches) and touches every event; the ratio; then peak RSS of a backtest over
the base dataset and over 10x as many days (each in its own process). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backtest.replay import plan_replay, replay_batches  # noqa: E402
from engine.backtest.request import BacktestRequest  # noqa: E402
from engine.backtest.run import run_backtest  # noqa: E402
from engine.backtest.sample_data import write_sample  # noqa: E402
from engine.config.settings import Settings  # noqa: E402
from engine.domain.market_data import TRADE  # noqa: E402
from engine.market_state import MarketState  # noqa: E402
from engine.storage.tick_store import TickStore  # noqa: E402

STRATEGY = ROOT / "tests" / "strategies" / "two_ma.py"
SYMBOLS = ("KRW-BTC", "KRW-ETH")
RATE = 2_000.0
PARAMS: dict[str, int | float] = {"fast": 20, "slow": 100, "take_profit_bp": 4, "stop_loss_bp": 4}


def make_dataset(root: Path, ticks: int, days: int) -> int:
    minutes = ticks / RATE / 60 / days
    report = write_sample(
        root, symbols=SYMBOLS, days=days, first_day=date(2026, 1, 5),
        session_minutes=minutes, rate=RATE, seed=7,
    )  # fmt: skip
    return report.total_rows


def pure_loop(root: Path) -> tuple[int, float]:
    """The floor: read the same replay and touch every event (sum trade sizes)."""
    store = TickStore(root)
    ids = store.instrument_ids()
    market = MarketState()
    indexes = [market.add(store.instrument(iid)) for iid in ids]
    plan = plan_replay(store, ids, indexes, None, None)
    started = time.perf_counter()
    events = volume = 0
    for _, batch, _ in replay_batches(store, plan):
        for kind, size in zip(batch.kind, batch.size, strict=True):
            if kind == TRADE:
                volume += size
        events += len(batch.kind)
    return events, time.perf_counter() - started


def backtest(root: Path, results: Path) -> dict[str, object]:
    request = BacktestRequest(
        strategy_file=str(STRATEGY), data_dir=str(root), results_dir=str(results), params=PARAMS
    )
    started = time.perf_counter()
    result = run_backtest(request, Settings())
    wall = time.perf_counter() - started
    s = result.summary
    return {"ticks": s.ticks, "wall": wall, "fills": s.fills, "orders": s.orders,
            "trades": s.trade_stats.trades, "batches": s.batches}  # fmt: skip


def child(root: Path) -> None:
    """Run one backtest and print its figures and this process's peak RSS (JSON)."""
    with tempfile.TemporaryDirectory() as results:
        figures = backtest(root, Path(results))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def memory_run(root: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2_000_000, help="events in the dataset")
    parser.add_argument("--days", type=int, default=2, help="days the events are split over")
    parser.add_argument("--memory-base", type=int, default=400_000,
                        help="events per day for the memory check (1 day vs 10 days)")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"python {platform.python_version()} on {platform.machine()}, one core")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ticks"
        started = time.perf_counter()
        rows = make_dataset(root, args.ticks, args.days)
        print(f"dataset: {rows:,} events ({', '.join(SYMBOLS)}, {args.days} days) written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        events, loop_wall = pure_loop(root)
        figures = backtest(root, Path(folder) / "results")
        loop_rate = events / loop_wall
        rate = figures["ticks"] / figures["wall"]  # type: ignore[operator]
        print(f"pure-Python loop over the replay: {events:,} events in {loop_wall:.2f} s = "
              f"{loop_rate:,.0f} ticks/s")  # fmt: skip
        print(f"backtest, full path:              {figures['ticks']:,} events in "
              f"{figures['wall']:.2f} s = {rate:,.0f} ticks/s "
              f"({figures['batches']:,} batches, {figures['orders']} orders, "
              f"{figures['fills']} fills, {figures['trades']} round trips)")  # fmt: skip
        print(f"ratio backtest / pure loop: {rate / loop_rate:.2f} (target: >= 1,000,000 ticks/s)")
    if args.skip_memory:
        return
    for days in (1, 10):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "ticks"
            rows = make_dataset(root, args.memory_base * days, days)
            run = memory_run(root)
            rate = run["ticks"] / run["wall"]
            print(f"memory: {days:>2} day(s), {rows:>11,} events: peak RSS "
                  f"{run['peak_rss_mb']:.0f} MB ({rate:,.0f} ticks/s)")  # fmt: skip


if __name__ == "__main__":
    main()
