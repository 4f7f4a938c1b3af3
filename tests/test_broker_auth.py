"""The embedded broker admits only its owner (issue 12, finding 3).

``stom`` starts the embedded broker with a user name and a password it generates the first time
into the 0600 secrets file; the engine, the CLI and the console read it from there. A client
without it (another local user: the file is unreadable to them) is refused. Before the fix the
embedded broker was anonymous: any local user could trade and read the owner's replies.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from engine.broker_auth import DEFAULT_USERNAME
from engine.cli.console import ensure_broker
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.secrets import broker_password
from engine.config.settings import BusSettings, SecretsSettings, Settings
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from tests.support.brokers import free_port
from tests.support.engine_process import ROOT, EngineProcess, unique_namespace

pytestmark = pytest.mark.integration


async def refused(port: int, username: str | None, password: str | None) -> bool:
    """True when the broker refuses the connection (and so every publish through it)."""
    try:
        async with aiomqtt.Client(
            "127.0.0.1", port, username=username, password=password, timeout=3
        ) as client:
            # Had it connected: an order as the intruder would be this.
            command = p.Command(id="x", type="ping", reply_to="stom/x/reply/x", args={})
            await client.publish(Topics("x").commands, encode(command), qos=1)
    except aiomqtt.MqttError as exc:
        return "not authori" in str(exc).lower() or "code:5" in str(exc) or "135" in str(exc)
    return False


def as_nobody(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a system tool as a second local user (uid 65534, ``nobody``)."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, user=65534, group=65534, cwd="/",
        check=False,
    )  # fmt: skip


async def test_the_embedded_broker_admits_only_the_owner(tmp_path: Path) -> None:
    home = tmp_path / "home"
    secrets_file = home / ".config" / "stom" / "secrets.toml"
    port = free_port()
    namespace = unique_namespace()
    url = f"mqtt://127.0.0.1:{port}"
    settings = Settings(
        bus=BusSettings(url=url, namespace=namespace, keepalive_s=2),
        secrets=SecretsSettings(file=str(secrets_file)),
    )
    broker, password = ensure_broker(settings, parse_broker_url(url), None)
    assert broker is not None and password is not None
    engine = None
    try:
        # Generated at first run, kept in a file only the owner can read.
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert broker_password(settings, {}) == password
        assert len(password.reveal()) >= 32
        # A second start finds it there and keeps it.
        assert ensure_broker(settings, parse_broker_url(url), password) == (None, password)

        assert await refused(port, None, None)
        assert await refused(port, DEFAULT_USERNAME, None)
        assert await refused(port, DEFAULT_USERNAME, "guess")
        assert await refused(port, "nobody", password.reveal())

        # The engine and the CLI read the password from the secrets file and work as before.
        engine = EngineProcess(
            url, namespace, data_dir=tmp_path, extra=["--set", f"secrets.file={secrets_file}"]
        ).start()
        async with RemoteEngine(settings, parse_broker_url(url), password) as remote:
            for _ in range(100):
                if await remote.alive_engine(timeout=1.0) is not None:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the engine never answered: {engine.log()[-2000:]}")
        (tmp_path / "empty.toml").write_text("")
        status = subprocess.run(
            [sys.executable, "-m", "engine", "status", "--config", str(tmp_path / "empty.toml"),
             "--broker", url, "--namespace", namespace, "--set", f"secrets.file={secrets_file}"],
            capture_output=True, text=True, timeout=30, cwd=ROOT, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("STOM_")},
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert "engine: running" in status.stdout
        assert password.reveal() not in status.stdout + status.stderr + engine.log()

        if os.geteuid() == 0:  # a real second local user: cannot read the password, nor trade
            read = as_nobody(["cat", str(secrets_file)])
            assert read.returncode != 0 and "Permission denied" in read.stderr
            assert password.reveal() not in read.stdout
            order = as_nobody(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", DEFAULT_USERNAME,
                 "-t", Topics(namespace).commands, "-q", "1", "-m", '{"type": "kill"}']
            )  # fmt: skip
            assert order.returncode != 0 and "not authori" in order.stderr.lower(), order
    finally:
        if engine is not None:
            engine.stop()
        broker.stop()
