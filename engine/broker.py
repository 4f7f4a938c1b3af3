"""The embedded MQTT broker (amqtt) and the check for whether a broker answers.

``stom`` runs the embedded broker in its own process (``python -m engine.broker HOST:PORT``) so a
busy broker never shares an event loop with the app or the engine, and stops it on exit. It
admits one user name and password (engine/broker_auth.py), handed to the child on its stdin so
they never show in ``ps`` or the environment; ``--anonymous`` (tests only) admits everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger("stom.broker")


def broker_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts a TCP connection at host:port (an MQTT broker, we assume)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


Credentials = tuple[str, str]
"""User name and password the embedded broker admits."""


def amqtt_config(host: str, port: int, credentials: Credentials | None) -> dict[str, object]:
    """Loopback-only, one user (or anonymous for tests), no $SYS spam: for one machine."""
    plugins: dict[str, object]
    if credentials is None:
        plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    else:
        username, password = credentials
        plugins = {
            "engine.broker_plugin.PasswordAuthPlugin": {"username": username, "password": password}
        }
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 256}},
        "plugins": plugins,
    }


async def serve(host: str, port: int, credentials: Credentials | None) -> None:
    """Run the amqtt broker until SIGTERM/SIGINT."""
    from amqtt.broker import Broker

    # amqtt logs every connection at INFO; keep the embedded broker quiet.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(amqtt_config(host, port, credentials))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(broker.shutdown(), timeout=3)


class EmbeddedBroker:
    """A child process running the embedded broker on loopback.

    ``credentials`` None admits anyone: only the test suite's brokers do that; ``stom`` always
    passes the user name and password from the secrets file (engine/cli/console.py).
    """

    def __init__(self, host: str, port: int, credentials: Credentials | None = None) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the embedded broker binds loopback only, not {host!r}")
        self.host = host
        self.port = port
        self.credentials = credentials
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        argv = [sys.executable, "-m", "engine.broker", f"{self.host}:{self.port}"]
        if self.credentials is None:
            argv.append("--anonymous")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdin is not None
        if self.credentials is not None:
            username, password = self.credentials
            self.process.stdin.write(f"{username}\n{password}\n".encode())
        self.process.stdin.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode()
                raise RuntimeError(
                    f"embedded broker on {self.host}:{self.port} exited: {err.strip()[-500:]}"
                )
            if broker_answers(self.host, self.port, timeout=0.2):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"embedded broker did not answer on {self.host}:{self.port}")

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_credentials(lines: list[str]) -> Credentials | None:
    """User name and password from the first two lines of stdin, or None if not both there."""
    if len(lines) < 2 or not lines[0].strip() or not lines[1].strip():
        return None
    return lines[0].strip(), lines[1].strip()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    anonymous = "--anonymous" in args
    args = [arg for arg in args if arg != "--anonymous"]
    if len(args) != 1 or ":" not in args[0]:
        print(
            "usage: python -m engine.broker HOST:PORT [--anonymous]  (user name and password"
            " on stdin, one a line)",
            file=sys.stderr,
        )
        return 2
    credentials = None if anonymous else read_credentials(sys.stdin.read(4096).splitlines())
    if credentials is None and not anonymous:
        print(
            "embedded broker: no user name and password on stdin; refusing to run open",
            file=sys.stderr,
        )
        return 2
    host, _, port = args[0].rpartition(":")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s broker %(message)s")
    try:
        asyncio.run(serve(host.strip("[]"), int(port), credentials))
    except OSError as exc:
        print(f"embedded broker cannot listen on {args[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
