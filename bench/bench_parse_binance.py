"""Binance parse + normalize throughput: the feed's own read loop on real-format frames.

Workload: BTCUSDT and ETHUSDT driven by the simulator through the loopback server's market
(``engine.venues.binance.loopback_market``, 20,000 simulated events/s, 10 ms steps), rendered by the
loopback's frame builders in Binance's combined-stream layout (``{"stream", "data"}``, prices and
quantities as 8-decimal text) and encoded to bytes, as the socket hands them over. Trade frames
and depth-diff frames are measured separately.

"feed" runs ``BinanceFeed._read`` (the production loop) over a socket stand-in whose
``recv(decode=False)`` returns the next frame: one await per frame as with ``websockets``, typed
msgspec decoding, decimal text to raw integers, the book-sync checks and ``MarketBatch.append``.
Beside it, in the same process on the same frames: ``json.loads`` alone (no normalizing at all),
and ``json.loads`` into dicts plus the same normalizing.

    python bench/bench_parse_binance.py [--trades N] [--diffs N] [--repeat N] [--seed S]

Each figure is the best of ``--repeat`` runs. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import platform
import time
from collections.abc import Callable

import msgspec
from websockets.exceptions import ConnectionClosedOK

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.venues.base import FeedSink
from engine.venues.binance import BinanceFeed
from engine.venues.binance.instruments import instrument_from_symbol_info
from engine.venues.binance.loopback_market import LoopbackMarket
from engine.venues.binance.loopback_routes import LoopbackApi
from engine.venues.binance.loopback_streams import market_frames
from engine.venues.binance.wire import decimal_to_raw

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
START_MS = 1_784_203_200_000
STEP_MS = 10


def generate(trades: int, diffs: int, seed: int) -> tuple[list[bytes], list[bytes], float]:
    """``(trade frames, depth frames, mean levels per diff)``."""
    market = LoopbackMarket(SYMBOLS, seed=seed, rate=20_000.0, start_ms=START_MS)
    trade_frames: list[bytes] = []
    depth_frames: list[bytes] = []
    levels = 0
    now = START_MS
    while len(trade_frames) < trades or len(depth_frames) < diffs:
        now += STEP_MS
        for stream, data in market_frames(market, market.advance(now), now):
            frame = msgspec.json.encode({"stream": stream, "data": data})
            if stream.endswith("@trade") and len(trade_frames) < trades:
                trade_frames.append(frame)
            elif stream.endswith("@depth@100ms") and len(depth_frames) < diffs:
                depth_frames.append(frame)
                levels += len(data["b"]) + len(data["a"])
    return trade_frames, depth_frames, levels / max(1, len(depth_frames))


class _Replay:
    """A socket stand-in: ``recv`` returns the next frame, then the connection closes."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = iter(frames)

    async def recv(self, decode: bool | None = None) -> bytes:
        for frame in self._frames:
            return frame
        raise ConnectionClosedOK(None, None)


def feed_run(frames: list[bytes]) -> tuple[float, int]:
    """Seconds for ``BinanceFeed._read`` over ``frames``; and the events it produced."""
    market = LoopbackMarket(SYMBOLS, seed=0, rate=1.0, start_ms=START_MS)
    info = LoopbackApi(market, None, 6000).exchange_info({}, START_MS)  # type: ignore[arg-type]
    instruments = [instrument_from_symbol_info(entry) for entry in info["symbols"]]
    ids = {str(i.id): n for n, i in enumerate(instruments)}
    sink = FeedSink(lambda instrument_id: ids[str(instrument_id)], lambda: None)
    feed = BinanceFeed("http://127.0.0.1:9", "ws://127.0.0.1:9")
    feed._slots = {i.id.symbol: feed._slot(i, sink) for i in instruments}
    first_ids = {}
    for frame in frames:
        data = msgspec.json.decode(frame)["data"]
        if data.get("e") == "depthUpdate":
            first_ids.setdefault(data["s"], data["U"])
    for symbol, slot in feed._slots.items():
        slot.depth.synced = True
        slot.depth.last_update_id = first_ids.get(symbol, 1) - 1

    async def run() -> float:
        resync: asyncio.Queue[str] = asyncio.Queue()
        started = time.perf_counter()
        with contextlib.suppress(ConnectionClosedOK):
            await feed._read(_Replay(frames), resync, sink)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        assert feed.health.gaps == 0 and feed.health.malformed == 0
        return elapsed

    return asyncio.run(run()), len(sink.batch)


def loads_only(frames: list[bytes]) -> float:
    loads = json.loads
    started = time.perf_counter()
    for frame in frames:
        loads(frame)
    return time.perf_counter() - started


def loads_and_normalize(frames: list[bytes]) -> float:
    """The dict path: ``json.loads`` then the same normalizing by key lookups."""
    loads, batch = json.loads, MarketBatch()
    index = {"BTCUSDT": (0, 2, 5), "ETHUSDT": (1, 2, 4)}  # (position, price and size precision)
    started = time.perf_counter()
    for frame in frames:
        data = loads(frame)["data"]
        position, pp, sp = index[data["s"]]
        if data["e"] == "trade":
            batch.append(
                TRADE,
                position,
                ASK if data["m"] else BID,
                decimal_to_raw(data["p"], pp),
                decimal_to_raw(data["q"], sp),
                data["T"] * 1_000_000,
            )
        else:
            ts = data["E"] * 1_000_000
            for side, levels in ((BID, data["b"]), (ASK, data["a"])):
                for price, qty in levels:
                    batch.append(
                        BOOK_LEVEL,
                        position,
                        side,
                        decimal_to_raw(price, pp),
                        decimal_to_raw(qty, sp),
                        ts,
                    )
    return time.perf_counter() - started


def best(repeat: int, run: Callable[[], float]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(run())
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--diffs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, msgspec {msgspec.__version__}"
    )
    trade_frames, depth_frames, mean_levels = generate(args.trades, args.diffs, args.seed)
    mean_bytes = sum(map(len, trade_frames)) / len(trade_frames)
    print(
        f"workload: {len(trade_frames):,} trade frames (~{mean_bytes:.0f} B), "
        f"{len(depth_frames):,} depth diffs ({mean_levels:.1f} levels each), "
        f"{', '.join(SYMBOLS)}; best of {args.repeat}"
    )
    for name, frames in (("trades", trade_frames), ("depth diffs", depth_frames)):
        feed_s = best(args.repeat, lambda frames=frames: feed_run(frames)[0])
        loads_s = best(args.repeat, lambda frames=frames: loads_only(frames))
        dict_s = best(args.repeat, lambda frames=frames: loads_and_normalize(frames))
        count = len(frames)
        print(f"{name}:")
        print(f"  feed (msgspec structs + normalize)  {count / feed_s:>12,.0f} messages/s")
        print(
            f"  json.loads only (no normalize)      {count / loads_s:>12,.0f} messages/s"
            f"   feed / loads = {loads_s / feed_s:.2f}"
        )
        print(
            f"  json.loads + normalize (dicts)      {count / dict_s:>12,.0f} messages/s"
            f"   feed / dicts = {dict_s / feed_s:.2f}"
        )


if __name__ == "__main__":
    main()
