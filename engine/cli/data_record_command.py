"""``stom data record``: the engine's feeds and the recorder, headless, until Ctrl+C.

It runs the same adapters the engine runs (``[venues.*]``, with their URLs and keys) and the
simulator (``--venue sim``), without a broker, and writes what they deliver to the tick store
(``[recorder]``: directory, flush interval, rows per part). A status line shows rows, rows per
second, part files and each feed's state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from engine.config.settings import Settings
from engine.domain.clock import LiveClock
from engine.domain.market_data import MarketBatch
from engine.market_state import MarketState

STEP_S = 0.005
STATUS_S = 0.5


def add_record_parser(data_sub: Any, common: argparse.ArgumentParser) -> None:
    record = data_sub.add_parser(
        "record",
        parents=[common],
        help="record venue feeds (or the simulator) to the tick store until Ctrl+C",
    )
    record.add_argument(
        "--venue",
        action="append",
        default=[],
        metavar="VENUE",
        help="upbit, binance, kiwoom or sim (repeatable; default: the enabled [venues.*], "
        "else sim)",
    )
    record.add_argument(
        "--symbols", help="comma-separated symbols (default: the venue's configured ones)"
    )
    record.add_argument("--out", type=Path, help="tick store root (default: [recorder] dir)")
    record.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl+C)")
    record.set_defaults(handler=run_record)


def run_record(settings: Settings, args: argparse.Namespace) -> int:
    from engine.config.errors import ConfigError
    from engine.venues.feeds import VenueStartError

    try:
        return asyncio.run(_record(settings, args))
    except (ConfigError, VenueStartError, ValueError) as exc:
        print(f"stom data record: {exc}", file=sys.stderr)
        return 2


async def _record(settings: Settings, args: argparse.Namespace) -> int:
    from engine.recorder import Recorder, recording_root
    from engine.venues.feeds import open_venue_set

    names = [name.lower() for name in args.venue] or _default_venues(settings)
    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    clock = LiveClock()
    market = MarketState()
    simulator = _simulator(settings, market, symbols, clock) if "sim" in names else None
    real = [name for name in names if name != "sim"]
    venues = await open_venue_set(
        settings, clock, only=real, symbols={name: symbols for name in real} if symbols else None
    )
    venues.attach(market, clock, poll=False)
    root = args.out or recording_root(settings)
    recorder = Recorder(
        root,
        market,
        instrument_ids=settings.recorder.instruments,
        rows_per_part=settings.recorder.rows_per_part,
        flush_s=settings.recorder.flush_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    ids = ", ".join(str(instrument.id) for instrument in market.instruments())
    print(f"recording {ids} to {root} (Ctrl+C stops)", flush=True)
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(work, name=name) for name, work in venues.tasks()]
        tasks.append(group.create_task(recorder.run(), name="recorder"))
        feeding = group.create_task(_feed(simulator, venues, recorder, clock), name="feed")
        status = group.create_task(_status(recorder, venues, started), name="status")
        await stop.wait()
        feeding.cancel()
        status.cancel()
        for task in tasks:
            task.cancel()
    elapsed = time.monotonic() - started
    print(
        f"\nrecorded {recorder.rows_written:,} rows in {recorder.parts_written} part files "
        f"in {elapsed:,.1f} s under {root}"
    )
    return 0


def _default_venues(settings: Settings) -> list[str]:
    from engine.venues.registry import SPECS

    enabled = [name for name in SPECS if getattr(settings.venues, name).enabled]
    return enabled or ["sim"]


def _simulator(
    settings: Settings, market: MarketState, symbols: list[str], clock: LiveClock
) -> Any:
    from engine.sim.catalog import sim_instrument
    from engine.sim.market import MarketSimulator

    chosen = symbols or list(settings.sim.instruments)
    instruments = [sim_instrument(symbol) for symbol in chosen]
    indexes = [market.add(instrument) for instrument in instruments]
    return MarketSimulator(
        instruments,
        indexes,
        seed=settings.sim.seed,
        rate=settings.sim.rate,
        book_depth=settings.sim.book_depth,
        start_ns=clock.now_ns(),
    )


async def _feed(simulator: Any, venues: Any, recorder: Any, clock: LiveClock) -> None:
    batch = MarketBatch()
    if simulator is not None:
        simulator.snapshot(batch)  # the books as they start
    while True:
        now = clock.now_ns()
        if simulator is not None:
            simulator.step(now, batch)
            recorder.on_batch(batch, now)
            batch.clear()
        if venues.venues:
            recorder.on_batch(venues.sink.take(), now)
            await venues.wait(STEP_S)
        else:
            await asyncio.sleep(STEP_S)


async def _status(recorder: Any, venues: Any, started: float) -> None:
    tty = sys.stdout.isatty()
    while True:
        await asyncio.sleep(STATUS_S)
        elapsed = max(time.monotonic() - started, 1e-9)
        feeds = "  ".join(
            f"{v.code} {v.feed.health.state.value} ({v.feed.health.reconnects} reconnects)"
            for v in venues.venues
        )
        line = (
            f"{recorder.rows_received:>12,} rows  {recorder.rows_received / elapsed:>9,.0f}/s  "
            f"{recorder.parts_written:>5} parts  {feeds}"
        )
        with contextlib.suppress(OSError):
            if tty:
                print(f"\r{line}", end="", flush=True)
            elif int(elapsed / STATUS_S) % 10 == 0:
                print(line, flush=True)
