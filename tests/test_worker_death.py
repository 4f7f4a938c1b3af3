"""Backtest and optimizer workers die with the process that started them (issue 12, finding 19).

``stom backtest`` runs the backtest in a spawned worker; ``stom optimize --jobs 2`` runs trials in
a pool of spawned workers. A ``kill -9`` of the CLI used to leave them running to the end and
writing results; now each watches its parent and exits within a fraction of a second, unsaved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

SLOW = '''
import os
from pathlib import Path

from engine.strategy.api import Param, Strategy


class Slow(Strategy):
    """Tells the test which process runs it, then takes its time over every trade."""

    work = Param(20_000, low=1, high=10_000_000, doc="loop turns per trade")

    def on_start(self) -> None:
        marker = Path(os.environ["SLOW_MARKER_DIR"]) / f"{os.getpid()}.pid"
        marker.write_text(str(os.getppid()))

    def on_trade(self, i, price, size, side, ts):
        total = 0
        for n in range(int(self.work)):
            total += n
'''


def stom_argv(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine", "--set", f"data.dir={tmp_path / 'data'}", *args]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)
    env["SLOW_MARKER_DIR"] = str(tmp_path / "markers")
    return env


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def workers_started(markers: Path, count: int, cli: subprocess.Popen[bytes]) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = [int(path.stem) for path in markers.glob("*.pid")]
        if len(pids) >= count:
            return pids
        assert cli.poll() is None, cli.stderr.read() if cli.stderr else b""
        time.sleep(0.05)
    raise AssertionError(f"{count} workers never started")


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ticks sampled once for the module (``stom data sample``)."""
    root = tmp_path_factory.mktemp("sample")
    sample = subprocess.run(
        stom_argv(root, "data", "sample", "--days", "2", "--minutes", "1",
                  "--instruments", "KRW-BTC", "--seed", "3"),
        cwd=root, env=env_for(root), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    return root / "data" / "ticks"


@pytest.fixture
def sampled(tmp_path: Path, sample_dir: Path) -> Path:
    (tmp_path / "markers").mkdir()
    strategy = tmp_path / "slow.py"
    strategy.write_text(SLOW)
    return strategy


@pytest.mark.parametrize("command", ["backtest", "optimize"])
def test_workers_die_with_a_killed_cli(
    tmp_path: Path, sample_dir: Path, sampled: Path, command: str
) -> None:
    ticks = sample_dir
    common = ["--data", str(ticks), "--from", "2026-01-05", "--to", "2026-01-06",
              "--instrument", "KRW-BTC.SIM"]  # fmt: skip
    if command == "backtest":
        args = ["backtest", str(sampled), *common]
        count = 1
    else:
        args = ["optimize", str(sampled), *common, "--jobs", "2", "--trials", "4",
                "--param", "work=20000:40000:10000", "--method", "grid"]  # fmt: skip
        count = 2
    cli = subprocess.Popen(
        stom_argv(tmp_path, *args), cwd=tmp_path, env=env_for(tmp_path),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        workers = workers_started(tmp_path / "markers", count, cli)
        assert all(alive(pid) for pid in workers)
        cli.send_signal(signal.SIGKILL)
        cli.wait(10)
        killed_at = time.monotonic()
        while any(alive(pid) for pid in workers) and time.monotonic() - killed_at < 5:
            time.sleep(0.02)
        gone_after = time.monotonic() - killed_at
        assert not any(alive(pid) for pid in workers), "workers outlived the CLI"
        assert gone_after < 1.5, f"workers took {gone_after:.2f} s to notice"
        time.sleep(0.5)
        results = tmp_path / "data" / "backtests"
        assert not results.exists() or not any(results.iterdir()), "a result written after"
    finally:
        if cli.poll() is None:
            cli.kill()
        for path in (tmp_path / "markers").glob("*.pid"):
            if alive(int(path.stem)):
                os.kill(int(path.stem), signal.SIGKILL)
