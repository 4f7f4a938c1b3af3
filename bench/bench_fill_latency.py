"""Fill → engine latency on the venues' loopback servers: private stream vs polling only.

For each venue (Upbit ``myOrder``, Binance's user data stream, Kiwoom's ``00``), the real feed,
order client, live exchange and OMS run in process against the venue's loopback protocol server
(its simulated market paused). Each sample places a limit buy that rests, then has the venue fill
it (a print through its price, the loopback exchange's own maker-fill path) and times from that
fill to the ``OrderFilled`` the OMS takes in:

- **stream**: the private stream on, polls every 20 s (they never come into it);
- **polling only**: no stream, open orders polled every ``--poll-ms`` (the engine's default
  ``[venues.*] poll_interval_ms`` is 1000).

Polling latency is the wait for the next poll plus its REST round trips (Kiwoom's client paces
REST at 5 requests/s, and a query is two TRs), so its p50 is about half the interval and more.
Figures only, no asserts.

Run: python bench/bench_fill_latency.py [--fills 20] [--poll-ms 1000] [--venues upbit,kiwoom]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the desks and venue helpers of the private-stream tests

from tests.venues import test_private_streams_binance as binance  # noqa: E402
from tests.venues import test_private_streams_kiwoom as kiwoom  # noqa: E402
from tests.venues import test_private_streams_upbit as upbit  # noqa: E402
from tests.venues.private_streams_support import fill_latency, running  # noqa: E402

SIZE = {"upbit": "0.001", "binance": "0.001", "kiwoom": "5"}
STREAM_POLL_S = 20.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def samples(
    venue: str, *, stream: bool, fills: int, poll_s: float, phase_s: float, rng: random.Random
) -> list[float]:
    """``fills`` latencies (seconds) of one venue in one mode, on a fresh loopback server."""
    server: Any
    if venue == "upbit":
        server = upbit.UpbitLoopback(seed=5, symbols=["KRW-BTC"], api_key=upbit.ACCESS,
                                     api_secret=upbit.SECRET, history_s=30.0,
                                     balances={"KRW": upbit.Decimal(1_000_000_000)})  # fmt: skip
        symbol, pause = "KRW-BTC", server.pause_market

        def through(price: int, size: str) -> Awaitable[None] | None:
            upbit.print_through(server, price, size)
            return None

    elif venue == "binance":
        server = binance.BinanceLoopback(seed=3, symbols=["BTCUSDT"], api_key=binance.API_KEY,
                                         api_secret=binance.API_SECRET,
                                         warmup_s=10.0)  # fmt: skip
        symbol, pause = "BTCUSDT", server.pause_market
    else:
        server = kiwoom.KiwoomLoopback(seed=11, api_key=kiwoom.APP_KEY,
                                       api_secret=kiwoom.SECRET_KEY, symbols=[kiwoom.CODE],
                                       rate=200.0, cash=10_000_000_000)  # fmt: skip
        symbol = kiwoom.CODE

        def pause() -> None:
            server.paused = True

        def through(price: int, size: str) -> Awaitable[None] | None:
            return kiwoom.print_through(server, price, int(size))

    await server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            module = {"upbit": upbit, "binance": binance, "kiwoom": kiwoom}[venue]
            desk = await module.open_desk(server, Path(tmp), stream=stream, poll_s=poll_s)
            if venue == "binance":

                def through(price: int, size: str) -> Awaitable[None] | None:
                    binance.print_through(server, desk, price, size)
                    return None

            printer: Callable[[int, str], Awaitable[None] | None] = through
            results: list[float] = []
            async for running_desk in running(desk, [symbol], pause):
                for _ in range(fills):
                    # A random phase against the poll timer (fills come when they come).
                    phase = rng.uniform(0.0, phase_s)
                    latency = await fill_latency(running_desk, printer, SIZE[venue], phase)
                    results.append(latency)
            return results
    finally:
        await server.stop()


def row(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{label:<14} p50 {percentile(ms, 0.5):8.1f} ms   p99 {percentile(ms, 0.99):8.1f} ms"
            f"   max {max(ms):8.1f} ms   (n={len(ms)})")  # fmt: skip


async def main(fills: int, poll_ms: float, venues: list[str]) -> None:
    print(
        f"fill -> engine (OrderFilled in the OMS), {fills} fills per row; polling only polls "
        f"every {poll_ms:.0f} ms, the stream rows poll every {STREAM_POLL_S:.0f} s"
    )
    for venue in venues:
        rng = random.Random(7)
        phase = poll_ms / 1000
        streamed = await samples(venue, stream=True, fills=fills, poll_s=STREAM_POLL_S,
                                 phase_s=phase, rng=rng)  # fmt: skip
        polled = await samples(venue, stream=False, fills=fills, poll_s=phase, phase_s=phase,
                               rng=rng)  # fmt: skip
        print(f"\n{venue}")
        print(row("  stream", streamed))
        print(row("  polling only", polled))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=1000.0)
    parser.add_argument("--venues", default="upbit,binance,kiwoom")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(args.fills, args.poll_ms, args.venues.split(",")))
