"""A real ``stom engine`` subprocess and an MQTT observer for tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomqtt

from engine.protocol import payloads as p
from engine.protocol.codec import DecodeError, decode
from engine.protocol.topics import Topics

ROOT = Path(__file__).resolve().parents[2]


def unique_namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class EngineProcess:
    """``python -m engine engine`` against a test broker, with its own namespace and data dir."""

    def __init__(
        self,
        broker_url: str,
        namespace: str,
        *,
        rate: int = 2000,
        keepalive: int = 2,
        data_dir: Path | None = None,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ):
        self.broker_url = broker_url
        self.extra = list(extra)
        self.env = dict(env or {})
        self.namespace = namespace
        self.rate = rate
        self.keepalive = keepalive
        self.dir = data_dir or Path(tempfile.mkdtemp(prefix="stom-engine-"))
        self.log_path = self.dir / "engine.log"
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "engine", "engine",
            "--config", str(self.dir / "none.toml"),
            "--broker", self.broker_url,
            "--namespace", self.namespace,
            "--set", f"sim.rate={self.rate}",
            "--set", f"bus.keepalive_s={self.keepalive}",
            "--set", f"data.dir={self.dir}",
            *self.extra,
        ]  # fmt: skip

    def start(self) -> EngineProcess:
        (self.dir / "none.toml").write_text("# empty: defaults\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")} | self.env
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 10) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Observer:
    """Subscribes to ``stom/<ns>/#`` and keeps every decodable payload by topic."""

    def __init__(self, host: str, port: int, namespace: str) -> None:
        self.topics = Topics(namespace)
        self.host, self.port = host, port
        self.messages: dict[str, list[bytes]] = defaultdict(list)
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, keepalive=5) as client:
                    await client.subscribe(f"{self.topics.root}/#", qos=1)
                    async for message in client.messages:
                        data = message.payload if isinstance(message.payload, bytes) else b""
                        self.messages[message.topic.value].append(data)
                        self.changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def latest(self, topic: str, kind: type[Any]) -> Any:
        for data in reversed(self.messages.get(topic, [])):
            with contextlib.suppress(DecodeError):
                return decode(data, kind)
        return None

    def all(self, topic: str, kind: type[Any]) -> list[Any]:
        out = []
        for data in self.messages.get(topic, []):
            with contextlib.suppress(DecodeError):
                out.append(decode(data, kind))
        return out

    async def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "") -> Any:
        """Wait until ``predicate()`` is truthy; returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            value = predicate()
            if value:
                return value
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.2)
        seen = {topic: len(messages) for topic, messages in self.messages.items()}
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what or predicate}; saw {seen}"
        )

    async def wait_status(self, state: str, timeout: float = 15.0) -> p.EngineStatus:
        def check() -> p.EngineStatus | None:
            status = self.latest(self.topics.status, p.EngineStatus)
            return status if status is not None and status.state == state else None

        return await self.wait_for(check, timeout)
