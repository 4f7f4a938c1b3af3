"""Recorder write throughput: market events per second from MarketBatch to Parquet part files.

    python bench/bench_recorder.py [--rows N] [--batch B] [--instruments K] [--rows-per-part P]

Workload: N events of the simulator's kinds (75 % book levels, 25 % trades) spread over K
instruments, handed to :class:`engine.recorder.Recorder` in batches of B events as the market loop
does (``on_batch``: copy and split by instrument), then written as part files (``flush``: one
Parquet file per P rows per instrument, each fsync'ed and renamed, with the session's book
snapshot rows). Beside it, the same rows as one polars DataFrame written to one Parquet file
with no splitting, no snapshot and no fsync: the floor a recorder could reach. Figures are
wall-clock, best of three, one process; nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

from engine.domain.market_data import BOOK_LEVEL, TRADE, MarketBatch
from engine.market_state import MarketState
from engine.recorder import Recorder
from engine.sim.catalog import SIM_CATALOG, sim_instrument
from engine.storage.tick_store import SCHEMA

START_NS = 1_795_000_000_000_000_000


def make_batches(rows: int, batch: int, instruments: int) -> list[MarketBatch]:
    generator = random.Random(7)
    batches = []
    ts = START_NS
    for start in range(0, rows, batch):
        chunk = MarketBatch()
        for _ in range(min(batch, rows - start)):
            ts += 1_000
            kind = TRADE if generator.random() < 0.25 else BOOK_LEVEL
            chunk.append(
                kind,
                generator.randrange(instruments),
                generator.randrange(2),
                100_000_000 + generator.randrange(-500, 500) * 1_000,
                generator.randrange(1, 10_000_000),
                ts,
            )
        batches.append(chunk)
    return batches


def through_recorder(
    batches: list[MarketBatch], market: MarketState, rows_per_part: int
) -> tuple[float, float]:
    """(seconds in on_batch, the market loop's share; seconds in all, writing included)."""
    root = Path(tempfile.mkdtemp(prefix="stom-bench-rec-"))
    try:
        recorder = Recorder(root, market, rows_per_part=rows_per_part)
        started = time.perf_counter()
        for batch in batches:
            recorder.on_batch(batch, batch.ts_event[-1])
        buffered = time.perf_counter()
        recorder.flush()
        return buffered - started, time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def through_polars(batches: list[MarketBatch]) -> float:
    root = Path(tempfile.mkdtemp(prefix="stom-bench-pl-"))
    try:
        started = time.perf_counter()
        columns: dict[str, list[int]] = {name: [] for name in SCHEMA if name != "snapshot"}
        for batch in batches:
            columns["ts_event"].extend(batch.ts_event)
            columns["ts_init"].extend([batch.ts_event[-1]] * len(batch))
            columns["kind"].extend(batch.kind)
            columns["side"].extend(batch.side)
            columns["price"].extend(batch.price)
            columns["size"].extend(batch.size)
        frame = pl.DataFrame(
            {name: pl.Series(name, values, dtype=SCHEMA[name]) for name, values in columns.items()}
        )
        frame.write_parquet(root / "all.parquet")
        return time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=1_000, help="events per market-loop batch")
    parser.add_argument("--instruments", type=int, default=6)
    parser.add_argument("--rows-per-part", type=int, default=65_536)
    args = parser.parse_args()
    symbols = list(SIM_CATALOG)[: args.instruments]
    market = MarketState()
    for symbol in symbols:
        market.add(sim_instrument(symbol))
    print(
        f"workload: {args.rows:,} events over {len(symbols)} instruments, batches of "
        f"{args.batch:,}, {args.rows_per_part:,} rows per part"
    )
    print(f"python {platform.python_version()}, polars {pl.__version__}, {platform.machine()}")
    batches = make_batches(args.rows, args.batch, len(symbols))
    runs = [through_recorder(batches, market, args.rows_per_part) for _ in range(3)]
    loop_s = min(run[0] for run in runs)
    recorder_s = min(run[1] for run in runs)
    polars_s = min(through_polars(batches) for _ in range(3))
    recorder_rate = args.rows / recorder_s
    polars_rate = args.rows / polars_s
    print(
        f"on_batch (market loop share):   {args.rows / loop_s:>14,.0f} events/s  ({loop_s:.3f} s)"
    )
    print(f"recorder (split, parts, fsync): {recorder_rate:>14,.0f} events/s  ({recorder_s:.3f} s)")
    print(f"raw polars (one file):          {polars_rate:>14,.0f} events/s  ({polars_s:.3f} s)")
    print(f"ratio recorder / raw polars:    {recorder_rate / polars_rate:>14.2f}")


if __name__ == "__main__":
    main()
