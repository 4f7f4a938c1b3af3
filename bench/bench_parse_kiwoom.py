"""Kiwoom realtime parse + normalize throughput: frames as the socket gives them -> MarketBatch.

    python bench/bench_parse_kiwoom.py [--frames N] [--repeat R]

Workload: N ``REAL`` frames per kind, one item each (``0B`` trades, ``0D`` ten-level books), made
by the loopback server's market (the simulator's 005930, 000660, 035720) and encoded exactly as the
server sends them (UTF-8 JSON text). Timed: the adapter's path (msgspec typed decode of the frame,
then :class:`RealtimeParser` normalizing into a reused MarketBatch), beside plain ``json.loads`` of
the same frames (decode only, into dicts, no normalization) for the ratio. Best of R runs. Asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import msgspec

from engine.domain.clock import LiveClock
from engine.domain.market_data import MarketBatch
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.loopback_market import LoopbackMarket
from engine.venues.kiwoom.realtime import InstrumentStream, RealtimeParser

CODES = ["005930", "000660", "035720"]


def make_frames(count: int) -> tuple[list[bytes], list[bytes]]:
    start = wire.kst_midnight_ns(LiveClock().now_ns()) + 9 * 3600 * wire.NS
    market = LoopbackMarket(CODES, seed=3, rate=20_000.0, start_ns=start)
    trades: list[bytes] = []
    books: list[bytes] = []
    until = start
    while len(trades) < count or len(books) < count:
        until += 5_000_000
        for item in market.step(until):
            target = trades if item.type == wire.REAL_TRADE else books
            if len(target) < count:
                target.append(msgspec.json.encode({"trnm": "REAL", "data": [item]}))
    return trades, books


def run_adapter(frames: list[bytes]) -> tuple[float, int]:
    streams = {code: InstrumentStream(f"{code}.KRX", i) for i, code in enumerate(CODES)}
    clock = LiveClock()
    parser = RealtimeParser(streams, clock.now_ns)
    out = MarketBatch()
    parser.reset(out)
    decode = wire.FRAME_DECODER.decode
    parse = parser.parse
    events = 0
    started = time.perf_counter()
    for raw in frames:
        parse(decode(raw), out)
        if len(out.kind) > 50_000:  # the market loop takes batches like this
            events += len(out.kind)
            out.clear()
    elapsed = time.perf_counter() - started
    return elapsed, events + len(out.kind)


def run_json(frames: list[bytes]) -> float:
    loads = json.loads
    started = time.perf_counter()
    for raw in frames:
        loads(raw)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000, help="frames per kind")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trades, books = make_frames(args.frames)
    print(
        f"workload: {len(trades):,} 0B trade frames and {len(books):,} 0D book frames "
        f"(1 item each, {sum(map(len, trades)) / len(trades):.0f} and "
        f"{sum(map(len, books)) / len(books):.0f} bytes on average), best of {args.repeat}"
    )
    print(f"python {platform.python_version()} on {platform.machine()}, one thread")
    for name, frames in (("trades (0B)", trades), ("books (0D)", books)):
        adapter_s, events = min(run_adapter(frames) for _ in range(args.repeat))
        json_s = min(run_json(frames) for _ in range(args.repeat))
        rate = len(frames) / adapter_s
        print(
            f"{name:12} adapter parse+normalize: {rate:12,.0f} msg/s ({events:,} events) | "
            f"json.loads alone: {len(frames) / json_s:12,.0f} msg/s | "
            f"adapter/json.loads: {json_s / adapter_s:.2f}x"
        )


if __name__ == "__main__":
    main()
