"""The engine the console starts: a child process watched until it reports running.

``stom`` spawns ``stom engine`` with its stderr going to a log file. Until the engine says
``running`` on the bus, :meth:`SpawnedEngine.failure` (polled by the console a few times a
second) watches the child: if it exits, or its log gains an ``ERROR``/``CRITICAL`` line, the
console is told at once why, with the log line, the log file and what to do, instead of waiting
for a heartbeat that will never come.

Quitting stops the engine (SIGTERM, then SIGKILL after a grace period) unless the user chose to
leave it running (:meth:`SpawnedEngine.detach`): it runs in its own session, so the terminal
closing does not take it down either.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from engine.config.settings import Settings
from stom_tui.health import EngineFailure

ERROR_LINE = re.compile(r"^\S+ \S+ (?:ERROR|CRITICAL)\s+\S+: (?P<message>.*)$")
"""A line of the engine's stderr log format (engine/service/log_files.py ``TEXT_FORMAT``)."""
MAX_READ = 64 * 1024
"""Most log bytes read per poll (a child printing faster than this is not starting up)."""

_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"already running in namespace"),
        "Another engine runs in this namespace: quit and run stom again to attach to it, "
        "or start this one with --namespace NAME.",
    ),
    (
        re.compile(r"cannot load instruments|ConnectError|unreachable|timed out", re.I),
        "A venue did not answer: check the network and its rest_url/ws_url in config.toml, "
        "or turn it off ([venues.NAME] enabled = false), then run stom again.",
    ),
    (
        re.compile(r"symbols is empty|cannot use the instruments"),
        "Fix the venue's symbols in config.toml ([venues.NAME] symbols), then run stom again.",
    ),
    (
        re.compile(r"address already in use|Errno 98", re.I),
        "Another program holds that port: stop it or choose another port in config.toml.",
    ),
    (
        re.compile(r"configuration error|secrets|api key|access_key", re.I),
        "Fix the setting named above in config.toml (or its STOM_ environment variable or the "
        "secrets file), then run stom again.",
    ),
    (
        re.compile(r"is in use by another engine"),
        "Another engine trades from this journal (on another broker or in another namespace): "
        "attach to it (stom --broker URL --namespace NAME), or stop it, then run stom again.",
    ),
    (
        re.compile(r"journal", re.I),
        "The journal could not be opened: check [journal] file and the disk, then run stom again.",
    ),
)
DEFAULT_HINT = "Read the engine log (path above) for the cause, fix it, then run stom again."


def hint_for(text: str) -> str:
    """What the user can do about a start failure described by ``text``."""
    for pattern, hint in _HINTS:
        if pattern.search(text):
            return hint
    return DEFAULT_HINT


def engine_log_path(settings: Settings) -> Path:
    """Where the spawned engine's stderr goes: ``<data.dir>/logs/engine-<namespace>.log``."""
    return Path(settings.data.dir).expanduser() / "logs" / f"engine-{settings.bus.namespace}.log"


class SpawnedEngine:
    """The engine child process this console started (see the module docstring)."""

    owned = True

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, log_offset: int) -> None:
        self.process = process
        self.log_path = log_path
        self._offset = log_offset
        """Log bytes before this start (earlier runs append to the same file)."""
        self._partial = b""
        self._error_line: str | None = None
        self._last_line: str | None = None
        self._running = False
        self._reported: EngineFailure | None = None
        self.detached = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def mark_running(self) -> None:
        """The engine said ``running``: later log errors are its own to report on the bus."""
        self._running = True

    def failure(self) -> EngineFailure | None:
        """Why the engine failed to start, once it shows (cheap: one ``poll`` and a read of the
        log's new bytes); None while it is starting or once it runs. An error line while the
        process lives is reported (``exited`` False), then again once the process has exited."""
        if self._running:
            return None
        if self._reported is not None and self._reported.exited:
            return self._reported
        code = self.process.poll()
        self._read_log()
        if code is None and self._error_line is None:
            return None
        log_line = self._error_line or self._last_line
        if code is None:
            reason = f"the engine logged an error while starting (pid {self.pid})"
        elif log_line is not None and (match := ERROR_LINE.match(log_line)):
            reason = f"engine exited with code {code}: {match.group('message')}"
        else:
            reason = f"engine exited with code {code} before it was running"
        self._reported = EngineFailure(
            reason=reason,
            log_line=log_line,
            log_path=str(self.log_path),
            hint=hint_for(log_line or ""),
            exited=code is not None,
        )
        return self._reported

    def _read_log(self) -> None:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._offset)
                data = log_file.read(MAX_READ)
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an unfinished line waits for the rest
        if self.process.poll() is not None and self._partial:
            lines.append(self._partial)  # the child is gone: nothing more will come
            self._partial = b""
        for raw in lines:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self._last_line = line
            if self._error_line is None and ERROR_LINE.match(line):
                self._error_line = line

    def detach(self) -> None:
        """Leave the engine running when the console quits."""
        self.detached = True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (nothing once detached or gone)."""
        if self.detached or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def attach_hint(self, command: str = "stom") -> str:
        """What the user reads in the terminal after leaving the engine running; ``command``
        is how this console was started (the same options attach to the same engine)."""
        return (
            f"stom: the engine (pid {self.pid}) is still running. Run `{command}` again to "
            f"attach to it; stop it with `kill {self.pid}`. Its log: {self.log_path}"
        )


def spawn_engine(settings: Settings, passthrough: list[str]) -> SpawnedEngine:
    """The engine as a child process; its stderr goes to a log file, never onto the screen."""
    log_path = engine_log_path(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        offset = log_file.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "engine", *passthrough],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C in the terminal goes to the app, which stops us
            env=os.environ.copy(),
        )
    return SpawnedEngine(process, log_path, offset)
