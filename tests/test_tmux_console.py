"""The real ``stom`` command in a real terminal (tmux): start, watch, use keys, quit."""

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


def test_stom_from_start_to_quit(tmux: Tmux, tmp_path: Path) -> None:
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
    # Quit: the app exits cleanly and stops the engine and the broker it started.
    tmux.keys("q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and tmux.pane("#{pane_dead}") != "1":
        time.sleep(0.1)
    assert tmux.pane("#{pane_dead}") == "1", tmux.screen()
    # stom's own exit status, as the shell saw it (128 + n if a signal had killed it).
    assert exit_file.read_text().strip() == "0", tmux.screen()
    assert not broker_answers("127.0.0.1", port)
    engine_log = (tmp_path / "data" / "logs" / f"engine-{namespace}.log").read_text()
    assert "stopped" in engine_log and "Traceback" not in engine_log
