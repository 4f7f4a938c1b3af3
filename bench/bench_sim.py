"""Simulator generation throughput: how many market events per wall-clock second it produces.

    python bench/bench_sim.py [--events N] [--rate R] [--step-ms MS] [--symbols A,B,...]

Steps the simulator in fixed slices of simulated time (as the engine does), into one reused
MarketBatch, until N events have been generated; prints the workload and the figures. Asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import platform
import time

from engine.domain.market_data import TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator

DEFAULT_SYMBOLS = "KRW-BTC,KRW-ETH,KRW-XRP,005930,000660,035720"
START_NS = 1_704_153_600 * 1_000_000_000  # 2024-01-02 09:00 KST, the KRX open


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events to generate")
    parser.add_argument("--rate", type=float, default=200_000.0, help="events per simulated s")
    parser.add_argument("--step-ms", type=float, default=20.0, help="simulated ms per step()")
    parser.add_argument("--symbols", default=DEFAULT_SYMBOLS, help="comma-separated symbols")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    symbols = args.symbols.split(",")
    print(
        f"workload: {len(symbols)} instruments ({', '.join(symbols)}), rate {args.rate:,.0f} "
        f"events/simulated s, step() every {args.step_ms:g} simulated ms, "
        f"{args.events:,} events, seed {args.seed}"
    )
    print(f"python {platform.python_version()} on {platform.machine()}, one thread")

    build_started = time.perf_counter()
    simulator = MarketSimulator(
        [sim_instrument(symbol) for symbol in symbols],
        list(range(len(symbols))),
        seed=args.seed,
        rate=args.rate,
        start_ns=START_NS,
    )
    build_s = time.perf_counter() - build_started

    batch = MarketBatch()
    step_ns = int(args.step_ms * 1_000_000)
    until = START_NS
    events = trades = 0
    started = time.perf_counter()
    while events < args.events:
        until += step_ns
        events += simulator.step(until, batch)
        trades += batch.kind.count(TRADE)
        batch.clear()
    elapsed = time.perf_counter() - started
    simulated_s = (until - START_NS) / 1e9

    print(f"construction:      {build_s * 1000:8.1f} ms")
    print(f"events generated:  {events:12,d} ({trades:,d} trades, {trades / events:.1%})")
    print(f"simulated time:    {simulated_s:12.3f} s ({events / simulated_s:,.0f} events/s)")
    print(f"wall time:         {elapsed:12.3f} s")
    print(f"throughput:        {events / elapsed:12,.0f} events/s")
    print(f"per event:         {elapsed / events * 1e6:12.2f} µs")


if __name__ == "__main__":
    main()
