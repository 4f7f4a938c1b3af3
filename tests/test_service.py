"""``stom service install`` and the engine's systemd notifications (sd_notify) for real.

The notify test binds a real unix datagram socket, names it in NOTIFY_SOCKET, and starts the
engine with the very command line the unit file holds: READY=1 comes after the broker connection,
WATCHDOG=1 pings keep coming, and SIGTERM gives STOPPING=1.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.service.notify import SystemdNotifier
from tests.support.brokers import Broker
from tests.support.engine_process import ROOT, unique_namespace

pytestmark = pytest.mark.integration


def stom(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False, env=env,
    )  # fmt: skip


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOM_", "NOTIFY_", "WATCH"))}
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT)}


def unit_values(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def write_config(tmp_path: Path, broker_url: str, namespace: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[bus]\nurl = "{broker_url}"\nnamespace = "{namespace}"\nembedded = false\n'
        f'[data]\ndir = "data"\n[sim]\nrate = 500.0\n'
        f'[secrets]\nfile = "{tmp_path}/secrets.toml"\n'
    )
    return config


def test_service_install_user_unit_and_print(tmp_path: Path) -> None:
    config = write_config(tmp_path, "mqtt://127.0.0.1:1", "svc")
    env = clean_env(tmp_path)
    written = stom("service", "install", "--user", "--config", str(config), cwd=tmp_path, env=env)
    assert written.returncode == 0, written.stderr
    unit = tmp_path / ".config/systemd/user/stom-engine-svc.service"
    assert f"wrote {unit}" in written.stdout
    assert "systemctl --user enable --now stom-engine-svc.service" in written.stdout
    assert "loginctl enable-linger" in written.stdout
    values = unit_values(unit.read_text())
    assert values["Type"] == ["notify"] and values["Restart"] == ["on-failure"]
    assert int(values["WatchdogSec"][0]) > 0 and values["WantedBy"] == ["default.target"]
    assert values["WorkingDirectory"] == [str(tmp_path)]
    assert "User" not in values  # user units run as their user
    argv = shlex.split(values["ExecStart"][0])
    assert argv[:4] == [sys.executable, "-m", "engine", "engine"]
    assert argv[argv.index("--config") + 1] == str(config)
    assert (tmp_path / "data").is_dir()  # made, so the unit can start

    printed = stom("service", "install", "--print", "--config", str(config), cwd=tmp_path, env=env)
    assert printed.returncode == 0, printed.stderr
    system = unit_values(printed.stdout)
    assert system["ProtectSystem"] == ["strict"] and system["WantedBy"] == ["multi-user.target"]
    assert f"-{tmp_path / 'data'}" in system["ReadWritePaths"]
    assert not (tmp_path / "etc").exists()


def test_service_install_without_permission_says_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path, "mqtt://127.0.0.1:1", "svc")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere
        out = locked / "file" / "nested"
        (locked / "file").write_text("")  # a file where a directory must be: still an OSError
    else:
        out = locked / "unit.service"
    result = stom(
        "service", "install", "--config", str(config), "--output", str(out),
        cwd=tmp_path, env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot write {out}" in result.stderr and "Traceback" not in result.stderr


def test_notifier_does_nothing_outside_systemd() -> None:
    notifier = SystemdNotifier(env={})
    assert not notifier.enabled and not notifier.ready("x") and notifier.watchdog_s is None
    assert SystemdNotifier(env={"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}).watchdog_s is None


def receive(sock: socket.socket, until: str, timeout: float) -> list[str]:
    """Datagrams until one contains ``until``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} in {timeout}s; got {got}")


def test_engine_notifies_systemd_ready_watchdog_and_stopping(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    config = write_config(tmp_path, mosquitto.url, namespace)
    env = clean_env(tmp_path)
    printed = stom("service", "install", "--print", "--config", str(config), cwd=tmp_path, env=env)
    values = unit_values(printed.stdout)
    argv = shlex.split(values["ExecStart"][0])
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify_path))
        env = {**env, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"}
        log_path = tmp_path / "engine.log"
        with log_path.open("wb") as log:
            engine = subprocess.Popen(
                argv, cwd=values["WorkingDirectory"][0], env=env, stdout=log, stderr=log
            )
        try:
            started = receive(sock, "READY=1", 30)
            ready = started[-1]
            assert "STATUS=running: broker" in ready and "connected" in ready, ready
            # At least three pings in a row, about every 0.2 s (half the watchdog period).
            pings = [m for m in receive(sock, "WATCHDOG=1", 5) if "WATCHDOG=1" in m]
            first_ping = time.monotonic()
            for _ in range(2):
                pings += [m for m in receive(sock, "WATCHDOG=1", 5) if "WATCHDOG=1" in m]
            assert len(pings) >= 3 and time.monotonic() - first_ping < 3
            engine.send_signal(signal.SIGTERM)
            stopping = receive(sock, "STOPPING=1", 15)[-1]
            assert "STATUS=engine" in stopping and "stopping" in stopping
            assert engine.wait(15) == 0
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
    assert "Traceback" not in log_path.read_text()
