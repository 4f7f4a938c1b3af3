"""Upbit parse + normalize throughput: the feed's per-frame path beside plain ``json.loads``.

Workload: real-format Upbit frames (bytes as the socket delivers them) built by the loopback
server's encoder from the simulator's market for KRW-BTC, KRW-ETH and KRW-XRP: ``--trades`` trade
frames (every field Upbit sends, about 450 bytes DEFAULT) and ``--books`` orderbook frames (30
levels a side, about 3.5 KB DEFAULT), consecutive snapshots of a moving book, in both formats.

Timed per frame, exactly what ``UpbitFeed`` does for each frame it receives
(``UpbitFeed.frame_handler``: typed msgspec decode, normalize to raw-unit events in a
MarketBatch, book diff against the previous snapshot, health update, wake), beside
``json.loads`` of the same bytes into dicts (decoding alone, no normalization) in the same process.

    python bench/bench_parse_upbit.py [--trades N] [--books N] [--repeat N]

Each figure is the best of ``--repeat`` runs. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
from collections.abc import Callable

from engine.domain.clock import TestClock
from engine.sim.catalog import sim_spec
from engine.venues.base import FeedSink
from engine.venues.upbit import UpbitFeed
from engine.venues.upbit.loopback_frames import encode, orderbook_message, trade_message
from engine.venues.upbit.loopback_market import LoopbackMarket
from engine.venues.upbit.normalize import UpbitNormalizer
from engine.venues.upbit.rules import build_instrument

SYMBOLS = ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
START_NS = 1_773_240_000 * 1_000_000_000
STEP_NS = 5_000_000


def make_frames(trades: int, books: int) -> dict[tuple[str, str], list[bytes]]:
    """Trade and orderbook frames in both formats, from a simulated market."""
    market = LoopbackMarket(SYMBOLS, seed=11, rate=2_000.0, start_ns=START_NS)
    records = []
    snapshots = []
    now = START_NS
    while len(records) < trades or len(snapshots) < books:
        now += STEP_NS
        changed, _ = market.advance(now)
        records.extend(market.drain_prints())
        if len(snapshots) < books:
            snapshots.extend(
                orderbook_message(market, position, 30, now, "REALTIME")
                for position in sorted(changed)
            )
    trade_messages = [trade_message(market, record, 0, "REALTIME") for record in records[:trades]]
    frames: dict[tuple[str, str], list[bytes]] = {}
    for fmt in ("DEFAULT", "SIMPLE"):
        frames[("trade", fmt)] = [encode(message, fmt) for message in trade_messages]
        frames[("book", fmt)] = [encode(message, fmt) for message in snapshots[:books]]
    return frames


def fresh_handler(fmt: str) -> tuple[Callable[[bytes], bool], FeedSink]:
    """The feed's per-frame closure over a fresh normalizer and sink."""
    feed = UpbitFeed(clock=TestClock(START_NS), wire_format=fmt)
    instruments = [
        build_instrument(symbol, symbol, sim_spec(symbol).start_price, None) for symbol in SYMBOLS
    ]
    index = {f"{symbol}.UPBIT": position for position, symbol in enumerate(SYMBOLS)}
    sink = FeedSink(index.__getitem__, lambda: None)
    normalizer = UpbitNormalizer(instruments, sink.index_of)
    return feed.frame_handler(normalizer, sink), sink


def best_of(repeat: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
        gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--books", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frames = make_frames(args.trades, args.books)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"{'frames':<15}{'bytes/frame':>12}{'feed path /s':>15}{'json.loads /s':>15}{'ratio':>8}")
    for (kind, fmt), batch in frames.items():

        def feed_path(batch: list[bytes] = batch, fmt: str = fmt) -> None:
            handle, sink = fresh_handler(fmt)
            for frame in batch:
                handle(frame)
            assert len(sink.batch) > 0

        def plain(batch: list[bytes] = batch) -> None:
            loads = json.loads
            for frame in batch:
                loads(frame)

        typed = len(batch) / best_of(args.repeat, feed_path)
        baseline = len(batch) / best_of(args.repeat, plain)
        size = sum(map(len, batch)) // len(batch)
        label = f"{kind} {fmt}"
        print(f"{label:<15}{size:>12}{typed:>15,.0f}{baseline:>15,.0f}{typed / baseline:>7.1f}x")


if __name__ == "__main__":
    main()
