"""Real MQTT brokers for tests, each on its own free loopback port.

Tests never use the machine's broker on 1883: each starts its own Mosquitto or embedded amqtt.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.broker import EmbeddedBroker, broker_answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """``mosquitto`` on a free port with a throwaway config (anonymous, loopback)."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="stom-mosq-"))

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nset_tcp_nodelay true\n"
        )
        self.process = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}")
            if broker_answers(self.host, self.port, timeout=0.2):
                return
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class AmqttBroker(EmbeddedBroker):
    """STOM's embedded broker (amqtt) in its own process on a free port."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__("127.0.0.1", port or free_port())

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


Broker = MosquittoBroker | AmqttBroker


@contextmanager
def running_broker(kind: str) -> Iterator[Broker]:
    """``kind`` is ``mosquitto`` or ``amqtt``."""
    broker: Broker = MosquittoBroker() if kind == "mosquitto" else AmqttBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
