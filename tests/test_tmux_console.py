"""The real ``stom`` command in a real terminal (tmux): start, watch, use keys, quit; and trade
from the price ladder (limit at the cursor, marked, cancelled at the cursor, a cross filled and
in Positions)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from engine.broker import broker_answers
from tests.support.brokers import free_port

pytestmark = pytest.mark.integration

PRICE = re.compile(r"\d{1,3}(,\d{3})+")


class Tmux:
    """One tmux server (own socket) with one session running a command."""

    def __init__(self, width: int, height: int) -> None:
        self.socket = f"stom-test-{uuid.uuid4().hex[:8]}"
        self.session = "stom"
        self.width, self.height = width, height
        self.marker = f"tmux{uuid.uuid4().hex[:8]}"
        """Unique text in the command line of everything this terminal starts."""

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        # The terminal's size must come from tmux, not from a COLUMNS/LINES the test inherited.
        exports = (
            "-u COLUMNS -u LINES -u TEXTUAL_SNAPSHOT_TEMPDIR -u PYTEST_CURRENT_TEST "
            + " ".join(f"{key}={value}" for key, value in env.items())
        )
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(self.width), "-y", str(self.height),
            f"env {exports} {command}",
        )  # fmt: skip
        self.run("set-option", "-t", self.session, "remain-on-exit", "on")
        # Deliver Escape at once (tmux otherwise waits to see whether it starts Alt+key).
        self.run("set-option", "-s", "escape-time", "0")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", self.session, fmt).strip()

    def wait_screen(self, check: Callable[[str], bool], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"screen never matched; last screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def kill_processes_mentioning(marker: str) -> None:
    """Closing the terminal (SIGHUP) leaves the engine running on purpose; a test must not."""
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            process.kill()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux(160, 48)
    yield terminal
    terminal.kill()
    kill_processes_mentioning(terminal.marker)


def stom_command() -> str:
    script = shutil.which("stom") or str(Path(sys.executable).parent / "stom")
    return script if os.path.exists(script) else f"{sys.executable} -m engine"


def start_stom(tmux: Tmux, tmp_path: Path) -> tuple[int, Path]:
    """``stom`` on a fresh config in ``tmp_path``: (its embedded broker's port, exit file)."""
    port = free_port()
    namespace = tmux.marker
    config = tmp_path / "config.toml"
    config.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n')
    command = (
        f"{stom_command()} --config {config} --broker mqtt://127.0.0.1:{port} "
        f"--namespace {namespace}"
    )
    exit_file = tmp_path / "exit-status"
    tmux.start(
        f"sh -c 'cd {tmp_path} && {command}; echo $? > {exit_file}'",
        {"HOME": str(tmp_path), "TERM": "xterm-256color"},
    )
    return port, exit_file


def wait_exit(tmux: Tmux, exit_file: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and tmux.pane("#{pane_dead}") != "1":
        time.sleep(0.1)
    assert tmux.pane("#{pane_dead}") == "1", tmux.screen()
    # stom's own exit status, as the shell saw it (128 + n if a signal had killed it).
    assert exit_file.read_text().strip() == "0", tmux.screen()


def test_stom_from_start_to_quit(tmux: Tmux, tmp_path: Path) -> None:
    port, exit_file = start_stom(tmux, tmp_path)
    # A living market: instruments with prices, the engine running, the embedded broker shown.
    tmux.wait_screen(
        lambda s: (
            "KRW-BTC" in s
            and "005930" in s
            and "running" in s.lower()
            and f"127.0.0.1:{port} (embedded)" in s
        )
    )
    assert broker_answers("127.0.0.1", port)  # the embedded broker it started
    tmux.wait_screen(lambda s: len(PRICE.findall(s)) >= 10)
    before = tmux.screen()
    tmux.wait_screen(lambda s: s != before, timeout=10)  # prices move
    # Keys: next instrument, help, back.
    tmux.keys("Down")
    tmux.keys("?")
    tmux.wait_screen(lambda s: "help" in s.lower() and "quit" in s.lower())
    tmux.keys("Escape")
    tmux.wait_screen(lambda s: "Esc closes" not in s and "KRW-BTC" in s)
    time.sleep(0.3)  # let the screen switch settle, as a person's next key press would
    # Quit: nothing open, so the app exits cleanly and stops the engine and broker it started.
    tmux.keys("q")
    wait_exit(tmux, exit_file)
    assert not broker_answers("127.0.0.1", port)
    engine_log = (tmp_path / "data" / "logs" / f"engine-{tmux.marker}.log").read_text()
    assert "stopped" in engine_log and "Traceback" not in engine_log


LADDER_WIDTH = 46
"""The ladder's columns at 160 wide (styles/app.tcss): it is the screen's left edge."""
OPEN_BUY = re.compile(r"KRW-BTC\.SIM\s+buy\s+(\d{1,3}(?:,\d{3})+)\s+[\d.]+\s+0\s+open")
FILLED_BUY = re.compile(r"KRW-BTC\.SIM\s+buy\s+[\d,]+\s+([\d.]+)\s+\1\s+filled")


def ladder_text(screen: str) -> str:
    return "\n".join(line[:LADDER_WIDTH] for line in screen.splitlines())


def status_line(screen: str) -> str:
    lines = screen.rstrip("\n").splitlines()
    return lines[-2] if len(lines) >= 2 else ""


def confirm_order(tmux: Tmux, *keys: str) -> None:
    """Press ``keys`` (an order key on the ladder) and confirm the order it asks about; pressed
    again if no confirm shows (a key that came before the ladder's first book rings the bell)."""
    for _ in range(5):
        # Entries wait while market data is stale (a loaded machine can lag the simulator).
        tmux.wait_screen(lambda s: "stale" not in status_line(s), timeout=30)
        tmux.keys(*keys)
        try:
            tmux.wait_screen(lambda s: "Buy from the ladder" in s, timeout=5)
        except AssertionError:
            continue
        tmux.keys("Enter")
        tmux.wait_screen(lambda s: "Buy from the ladder" not in s, timeout=5)
        return
    raise AssertionError(f"no confirm after {keys}:\n{tmux.screen()}")


def own_bid_at(screen: str, price: str) -> bool:
    """The own-orders column left of the bid sizes shows a quantity at ``price`` (found by the
    column: columns are right-aligned under their header, and beyond the book's depth the Σbid
    cell between them is blank)."""
    lines = [line[:LADDER_WIDTH] for line in screen.splitlines()]
    header = next((line for line in lines if "Own" in line and "Price" in line), None)
    if header is None:
        return False
    own_end = header.index("Own") + len("Own")
    for line in lines:
        numbers = list(re.finditer(r"[\d.,]+", line))
        if any(number.group() == price for number in numbers):
            return any(n.end() == own_end and n.group() != price for n in numbers)
    return False


def test_trade_from_the_ladder(tmux: Tmux, tmp_path: Path) -> None:
    _, exit_file = start_stom(tmux, tmp_path)
    tmux.wait_screen(lambda s: "running" in s.lower() and "Ladder · KRW-BTC.SIM" in s, 30)
    tmux.wait_screen(lambda s: len(PRICE.findall(ladder_text(s))) >= 20)
    # Focus the ladder, move the cursor 300 ticks (0.3 %) below the touch, buy a limit there:
    # far enough that the simulator's drift does not fill it before the cancel below (30 ticks
    # were once crossed in the 12 s a loaded machine took between the two).
    tmux.keys("L")
    tmux.wait_screen(lambda s: "Buy at cursor" in s)  # the key bar shows the ladder's keys
    tmux.keys(*["PageDown"] * 30)
    confirm_order(tmux, "b")
    screen = tmux.wait_screen(lambda s: OPEN_BUY.search(s) is not None)
    match = OPEN_BUY.search(screen)
    assert match is not None
    price = match.group(1)
    # Marked in the ladder's own-orders column, at its price.
    tmux.wait_screen(lambda s: own_bid_at(s, price))
    # Cancelled at the cursor: the mark goes, the order is cancelled.
    tmux.keys("c")
    tmux.wait_screen(lambda s: not OPEN_BUY.search(s) and "cancelled" in s)
    tmux.wait_screen(lambda s: not own_bid_at(s, price))
    # Cross: buy IOC at the best ask, until one fills (the touch may move before it arrives).
    for _ in range(5):
        confirm_order(tmux, "-l", "{")
        try:
            tmux.wait_screen(lambda s: FILLED_BUY.search(s) is not None, timeout=10)
            break
        except AssertionError:
            continue
    screen = tmux.wait_screen(lambda s: "Positions · 1 open" in s)
    assert re.search(r"KRW-BTC\.SIM\s+0\.\d+", screen.split("Positions · 1 open")[1])
    # Quit: a position is open in the engine this console started, so it asks first.
    tmux.keys("q")
    tmux.wait_screen(lambda s: "Leave it running" in s or "leave it running" in s.lower())
    tmux.keys("s")
    wait_exit(tmux, exit_file)
