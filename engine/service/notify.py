"""systemd's notify protocol (``sd_notify``): readiness, status, watchdog pings, stopping.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the unix socket named in
``NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace). It is written here directly,
with no dependency. Without ``NOTIFY_SOCKET`` (not under systemd) every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("stom.service")


class SystemdNotifier:
    """Sends ``READY=1``, ``STATUS=...``, ``WATCHDOG=1`` and ``STOPPING=1`` to systemd."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        address = environ.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        self.watchdog_s = _watchdog_interval(environ)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send one datagram; False if there is no socket or it could not be sent (logged)."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={_one_line(status)}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={_one_line(status)}")

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify("STOPPING=1", f"STATUS={_one_line(status)}")

    async def run(
        self, ready: asyncio.Event, describe: Callable[[], str], *, status_every_s: float = 5.0
    ) -> None:
        """Say READY once ``ready`` is set, then ping the watchdog and refresh STATUS.

        The pings come from this task on the engine's event loop: if the loop stalls, they
        stop, and systemd restarts the engine after ``WatchdogSec``.
        """
        if not self.enabled:
            return
        await ready.wait()
        self.ready(describe())
        interval = min(self.watchdog_s / 2, status_every_s) if self.watchdog_s else status_every_s
        loop = asyncio.get_running_loop()
        next_status = loop.time() + status_every_s
        while True:
            await asyncio.sleep(interval)
            lines = ["WATCHDOG=1"] if self.watchdog_s else []
            if loop.time() >= next_status:
                lines.append(f"STATUS={_one_line(describe())}")
                next_status = loop.time() + status_every_s
            if lines:
                self.notify(*lines)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """The watchdog period in seconds, or None (no watchdog, or it is meant for another pid)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
