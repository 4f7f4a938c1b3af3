"""The console at full feed rate: tick→screen latency, messages/s received, memory, first frame.

Workload: a real Mosquitto broker on a free port, a real engine subprocess with the simulator at
--rate events/s (default 100,000) on the default six instruments, and the real app (StomApp with
its MqttFeed) running headless at 160x48 in this process for --seconds.

* tick→screen latency: for each tickers/book update the app handles, the app's clock minus the
  newest simulator timestamp (ts_event) it carries; p50/p99 over the run.
* messages/s: every MQTT message the app's feed handed to the app, per second (the selected
  instrument's book, trades and the bars of four timeframes included).
* key→updated screen, after the steady run, still at full rate: a ladder cursor move (the key
  posted as the terminal driver posts it, until the first frame composited after the ladder's
  cursor moved) and an instrument switch (until the first frame after the ladder holds the new
  instrument's book from the engine); p50/p99 over 100 moves and 20 switches.
* tick→screen latency and messages/s are over the steady window only (not the keys after it).
* RSS of the engine (psutil, by pid) and of this process (the app) at the end of the run.
* first live frame: `stom` launched in tmux from scratch (embedded broker, engine spawn), time
  until the screen shows a price, measured with capture-pane every 20 ms.

Run: python bench/bench_app.py [--seconds 60] [--rate 100000]   (the brief: --seconds 300)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config.settings import BusSettings, Settings  # noqa: E402
from stom_tui.app import StomApp  # noqa: E402
from stom_tui.feed import MqttFeed  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("mosquitto did not start")


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def run_app(settings: Settings, port: int, seconds: float) -> StomApp:
    # As `stom` starts it (freeze_heap: engine/cli/console.py).
    app = StomApp(settings, MqttFeed(settings, host="127.0.0.1", port=port), freeze_heap=True)
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 20
        while app.trading.book is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        app.metrics.latencies_ns.clear()
        app.metrics.handled.clear()
        start = time.monotonic()
        await asyncio.sleep(seconds)
        # The steady window's figures, before the keys below add their own load.
        app.bench_elapsed = time.monotonic() - start  # type: ignore[attr-defined]
        app.bench_latencies = list(app.metrics.latencies_ns)  # type: ignore[attr-defined]
        app.bench_handled = Counter(app.metrics.handled)  # type: ignore[attr-defined]
        app.bench_rss = psutil.Process().memory_info().rss  # type: ignore[attr-defined]
        app.bench_keys = await key_latencies(app)  # type: ignore[attr-defined]
    return app


class Frames:
    """When the app's screen was composited and handed to the driver (``App._display``)."""

    def __init__(self, app: StomApp) -> None:
        self.times_ns: list[int] = []
        display = app._display

        def timed(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None:
                self.times_ns.append(time.perf_counter_ns())

        app._display = timed  # type: ignore[method-assign]

    async def after(self, ts_ns: int, timeout: float = 5.0) -> int:
        """The time of the first frame displayed after ``ts_ns``."""
        deadline = time.perf_counter() + timeout
        while not (self.times_ns and self.times_ns[-1] > ts_ns):
            if time.perf_counter() > deadline:
                raise TimeoutError("no frame was displayed")
            await asyncio.sleep(0.0005)
        return next(t for t in self.times_ns if t > ts_ns)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> int:
    """When ``condition`` was first seen true (perf_counter ns)."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the state did not change")
        await asyncio.sleep(0.0005)
    return time.perf_counter_ns()


async def key_latencies(app: StomApp) -> dict[str, list[int]]:
    """Key press → the first frame showing its effect (ns), for ladder cursor moves and
    instrument switches, with the market still streaming at full rate.

    Keys are posted the way the terminal driver posts them (``App.simulate_key``), not through
    Pilot's ``press``: Pilot then waits for the process to go idle (up to a second), which a
    console receiving a live market never is; that wait would be measured instead of the app.
    """
    frames = Frames(app)
    moves: list[int] = []
    app.simulate_key("L")
    await until(lambda: app.ladder.has_focus)
    for i in range(100):
        before = app.ladder.cursor_price
        began = time.perf_counter_ns()
        app.simulate_key("up" if i % 2 else "down")
        changed = await until(lambda before=before: app.ladder.cursor_price != before)
        moves.append(await frames.after(changed) - began)
        await asyncio.sleep(0.05)  # a fast repeat rate, not a flood
    app.simulate_key("escape")
    await asyncio.sleep(0.3)
    switches: list[int] = []
    ids = app.watchlist.instrument_ids
    for i in range(20):
        target = ids[1] if i % 2 == 0 else ids[0]
        began = time.perf_counter_ns()
        app.simulate_key("down" if i % 2 == 0 else "up")

        def shown(target: str = target) -> bool:
            book = app.trading.book
            ladder = app.ladder
            return (
                book is not None
                and book.id == target
                and ladder.book is not None
                and ladder.book.id == target
                and not ladder.redraw_pending
            )

        changed = await until(shown)
        switches.append(await frames.after(changed) - began)
        await asyncio.sleep(0.2)  # a person's pace between switches
    return {"ladder cursor move": moves, "instrument switch": switches}


def first_live_frame(workdir: Path) -> float:
    port = free_port()
    socket_name = f"bench-{uuid.uuid4().hex[:6]}"
    stom = shutil.which("stom") or f"{sys.executable} -m engine"
    command = (
        f"env -u COLUMNS -u LINES {stom} --broker mqtt://127.0.0.1:{port} "
        f"--namespace {socket_name} --set data.dir={workdir}/data"
    )
    price = re.compile(r"KRW-BTC\.SIM\s+\S+\s+\d{1,3}(,\d{3})+")
    started = time.perf_counter()
    subprocess.run(
        ["tmux", "-L", socket_name, "new-session", "-d", "-x", "160", "-y", "48", command],
        check=True,
    )
    elapsed = float("nan")
    try:
        deadline = started + 20
        while time.perf_counter() < deadline:
            screen = subprocess.run(
                ["tmux", "-L", socket_name, "capture-pane", "-p"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if price.search(screen):
                elapsed = time.perf_counter() - started
                break
            time.sleep(0.02)
        subprocess.run(["tmux", "-L", socket_name, "send-keys", "q"], check=False)
        time.sleep(3)
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, check=False)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=100_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stom-bench-"))
    port = free_port()
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    broker = start_mosquitto(port, workdir)
    engine = subprocess.Popen(
        [sys.executable, "-m", "engine", "engine", "--config", os.devnull,
         "--broker", f"mqtt://127.0.0.1:{port}", "--namespace", namespace,
         "--set", f"sim.rate={args.rate}", "--set", f"data.dir={workdir}"],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        settings = Settings(bus=BusSettings(url=f"mqtt://127.0.0.1:{port}", namespace=namespace))
        app = asyncio.run(run_app(settings, port, args.seconds))
        engine_rss = psutil.Process(engine.pid).memory_info().rss
        engine_ticks = app.presence.stats.ticks_per_s if app.presence.stats else float("nan")
    finally:
        engine.terminate()
        engine.wait(10)
        broker.terminate()
    app_rss = app.bench_rss  # type: ignore[attr-defined]
    latencies: list[int] = app.bench_latencies  # type: ignore[attr-defined]
    elapsed = app.bench_elapsed  # type: ignore[attr-defined]
    handled: Counter[str] = app.bench_handled  # type: ignore[attr-defined]
    received = sum(handled.values())
    print(f"workload: engine simulator at {args.rate:,} events/s, 6 instruments, Mosquitto, "
          f"app headless 160x48, {elapsed:.0f} s")  # fmt: skip
    print(f"engine ticks/s (its own stats)    : {engine_ticks:12,.0f}")
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"tick→screen latency p50 / p99     : {p50:8.1f} / {p99:.1f} ms")
    print(f"  ({len(latencies):,} samples; target p99 ≤ 100)")
    print(f"messages/s the app received       : {received / elapsed:12,.1f}  (target ≤ 200)")
    print(f"  by type: {dict(handled.most_common())}")
    print(f"engine RSS                        : {engine_rss / 2**20:12,.1f} MiB (target ≤ 150)")
    print(f"app RSS (this process)            : {app_rss / 2**20:12,.1f} MiB (target ≤ 120)")
    for name, samples in app.bench_keys.items():  # type: ignore[attr-defined]
        k50, k99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(f"key→screen, {name:<19}: {k50:8.1f} / {k99:.1f} ms p50 / p99 "
              f"({len(samples)} keys; target p99 ≤ 100)")  # fmt: skip
    print(f"mean latency                      : {statistics.fmean(latencies) / 1e6:12.1f} ms")
    frame = first_live_frame(workdir)
    print(
        f"command → first live frame (tmux) : {frame:12.2f} s (embedded broker + engine spawn;"
        " target ≤ 1.5)"
    )


if __name__ == "__main__":
    main()
