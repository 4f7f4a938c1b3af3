"""Load: the simulator at its documented maximum rate, two strategies and the console, for 60 s.

Workload: a real Mosquitto broker on a free port; a real engine subprocess with the simulator at
``MAX_SIM_RATE`` events/s (engine/config/validation.py) on the default six instruments and two
template strategies trading (tick_momentum on the crypto, book_imbalance on the stocks); the real
console (StomApp with its MqttFeed) headless at 160x48 in this process, pressed keys throughout.

Figures (printed, nothing asserted):

* engine lag: how far the simulator's newest event stands behind the wall clock after each
  turn of the market loop, max and p99 (``sim_lag_max_ms``, ``sim_lag_p99_ms`` of the last
  ``engine/stats``: the p99 covers the last minute of turns);
* dropped: simulator events skipped because the engine could not keep up (``sim_dropped``) and
  bus events the outbox dropped (``bus_events_dropped``);
* key -> screen: a key pressed (watchlist up/down, view toggles) until the first screen update
  after the app has handled it (``App._display``, which a terminal would write); p50/p99/max;
* RSS of the engine and of the console (this process) at the start and at the end;
* for reading the above: the engine's events/s, the strategies' fills, the console's messages
  handled and payloads folded into waiting ones (stom_tui/conflation.py) per second, and the CPU
  each process got (the machine's load average is printed with the workload).

Run: python bench/bench_load.py [--seconds 60] [--rate R (default: the maximum)]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config.settings import BusSettings, Settings  # noqa: E402
from engine.config.validation import MAX_SIM_RATE  # noqa: E402
from engine.protocol.payloads import EngineStats  # noqa: E402
from stom_tui.app import StomApp  # noqa: E402
from stom_tui.feed import MqttFeed  # noqa: E402

KEYS = ("down", "down", "up", "l", "l", "p", "p", "down", "O", "O", "up")
KEY_INTERVAL_S = 0.25
STRATEGIES = """
[[strategies.enabled]]
file = "tick_momentum.py"
instruments = ["KRW-BTC.SIM", "KRW-ETH.SIM", "KRW-XRP.SIM"]

[[strategies.enabled]]
file = "book_imbalance.py"
instruments = ["005930.KRX", "000660.KRX", "035720.KRX"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("mosquitto did not start")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    """What the console side measures."""

    def __init__(self) -> None:
        self.key_ms: list[float] = []
        self.key_names: list[str] = []
        self.stats: list[EngineStats] = []
        self.app_rss_start = 0
        self.app_rss_end = 0
        self.engine_rss_start = 0
        self.engine_rss_end = 0
        self.elapsed = 0.0
        self.handled = 0
        self.conflated = 0
        self.app_cpu = 0.0
        self.engine_cpu = 0.0
        """CPU time over the run / wall time (1.0: one core the whole time)."""


async def drive_console(settings: Settings, port: int, seconds: float, engine_pid: int) -> Run:
    run = Run()
    # As `stom` starts it (freeze_heap: engine/cli/console.py).
    app = StomApp(settings, MqttFeed(settings, host="127.0.0.1", port=port), freeze_heap=True)
    displayed: list[float] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            displayed.append(time.perf_counter())
        original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    keys_seen: list[float] = []
    on_event = app.on_event

    async def seen(event: Any) -> None:
        # By name: only stom_tui imports Textual (tests/test_app_imports.py).
        if type(event).__name__ == "Key":
            keys_seen.append(time.perf_counter())
        await on_event(event)

    app.on_event = seen  # type: ignore[method-assign]
    engine = psutil.Process(engine_pid)
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 30
        while app.presence.stats is None or not app.metrics.latencies_ns:
            if time.monotonic() > deadline:
                raise RuntimeError("no market data reached the console in 30 s")
            await pilot.pause(0.1)
        await pilot.pause(2.0)  # settle: first snapshots drawn
        run.app_rss_start = psutil.Process().memory_info().rss
        run.engine_rss_start = engine.memory_info().rss
        me = psutil.Process()
        app_cpu, engine_cpu = sum(me.cpu_times()[:2]), sum(engine.cpu_times()[:2])
        handled, conflated = sum(app.metrics.handled.values()), app.conflator.conflated
        start = time.monotonic()
        presses = 0
        while time.monotonic() - start < seconds:
            key = KEYS[presses % len(KEYS)]
            presses += 1
            pressed = time.perf_counter()
            await pilot.press(key)
            # The first screen update after the app took the key (an update already under way
            # when it arrived would not show it).
            while time.perf_counter() - pressed < 5.0:
                taken = next((t for t in keys_seen if t >= pressed), None)
                shown = next((t for t in displayed if taken is not None and t >= taken), None)
                if shown is not None:
                    run.key_ms.append((shown - pressed) * 1000)
                    run.key_names.append(key)
                    break
                await asyncio.sleep(0.002)
            keys_seen.clear()
            del displayed[:-1]
            if app.presence.stats is not None and (
                not run.stats or run.stats[-1] is not app.presence.stats
            ):
                run.stats.append(app.presence.stats)
            await asyncio.sleep(KEY_INTERVAL_S)
        run.elapsed = time.monotonic() - start
        run.handled = sum(app.metrics.handled.values()) - handled
        run.conflated = app.conflator.conflated - conflated
        run.app_cpu = (sum(me.cpu_times()[:2]) - app_cpu) / run.elapsed
        run.engine_cpu = (sum(engine.cpu_times()[:2]) - engine_cpu) / run.elapsed
        run.app_rss_end = psutil.Process().memory_info().rss
        run.engine_rss_end = engine.memory_info().rss
        if app.presence.stats is not None:
            run.stats.append(app.presence.stats)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=MAX_SIM_RATE)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stom-bench-load-"))
    config = workdir / "config.toml"
    config.write_text(f'[strategies]\ndir = "{ROOT / "strategies"}"\n{STRATEGIES}')
    port = free_port()
    namespace = f"load{uuid.uuid4().hex[:6]}"
    broker = start_mosquitto(port, workdir)
    engine = subprocess.Popen(
        [sys.executable, "-m", "engine", "engine", "--config", str(config),
         "--broker", f"mqtt://127.0.0.1:{port}", "--namespace", namespace,
         "--set", f"sim.rate={args.rate:g}", "--set", f"data.dir={workdir}"],
        cwd=ROOT, stderr=(workdir / "engine.log").open("wb"),
    )  # fmt: skip
    try:
        settings = Settings(bus=BusSettings(url=f"mqtt://127.0.0.1:{port}", namespace=namespace))
        run = asyncio.run(drive_console(settings, port, args.seconds, engine.pid))
    finally:
        engine.terminate()
        engine.wait(15)
        broker.terminate()
    fills = (workdir / "engine.log").read_text(errors="replace").count("FILL ")
    last = run.stats[-1]
    ticks = [s.ticks_per_s for s in run.stats[1:]]
    mib = 2**20
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    print(
        f"workload: simulator at {args.rate:,.0f} events/s (documented maximum"
        f" {MAX_SIM_RATE:,.0f}), 6 instruments, tick_momentum + book_imbalance, Mosquitto,"
        f" console headless 160x48, {run.elapsed:.0f} s; {cpus} CPUs, load average {load:.1f}"
    )
    print(f"engine events/s (median of its stats)  : {percentile(ticks, 0.5):12,.0f}")
    print(f"strategy fills (engine log)            : {fills:12,}")
    print(f"engine lag max / p99 (last minute)     : {last.sim_lag_max_ms:8,.1f} /"
          f" {last.sim_lag_p99_ms:,.1f} ms")  # fmt: skip
    share = last.sim_dropped / max(1, last.ticks_total + last.sim_dropped)
    print(f"simulator events dropped (skipped)     : {last.sim_dropped:12,}  ({share:.1%} of all)")
    print(f"bus events dropped (outbox)            : {last.bus_events_dropped:12,}")
    keys = run.key_ms
    print(
        f"key -> screen p50 / p99 / max          : {percentile(keys, 0.5):8.1f} /"
        f" {percentile(keys, 0.99):.1f} / {max(keys, default=float('nan')):.1f} ms"
        f"  ({len(keys)} keys, {sum(k <= 100 for k in keys)} within 100 ms)"
    )
    arrows = [ms for ms, name in zip(keys, run.key_names, strict=True) if name in ("up", "down")]
    views = [ms for ms, name in zip(keys, run.key_names, strict=True) if name not in ("up", "down")]
    print(f"  of which up/down p50 / max             : {percentile(arrows, 0.5):8.1f} /"
          f" {max(arrows, default=float('nan')):.1f} ms; view keys (l, p, O) p50 / max"
          f" {percentile(views, 0.5):.1f} / {max(views, default=float('nan')):.1f} ms")  # fmt: skip
    print(f"console messages handled / folded per s: {run.handled / run.elapsed:8.1f} /"
          f" {run.conflated / run.elapsed:.1f}")  # fmt: skip
    print(f"engine RSS start -> end                : {run.engine_rss_start / mib:8.1f} ->"
          f" {run.engine_rss_end / mib:.1f} MiB")  # fmt: skip
    print(f"console RSS start -> end (this process): {run.app_rss_start / mib:8.1f} ->"
          f" {run.app_rss_end / mib:.1f} MiB")  # fmt: skip
    print(f"CPU used, engine / console (1 = a core): {run.engine_cpu:8.2f} / {run.app_cpu:.2f}")


if __name__ == "__main__":
    main()
