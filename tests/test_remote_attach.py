"""Attaching over the network: a real Mosquitto with TLS and a password (certificates made here).

The engine, the CLI and the console connect with ``mqtts://`` and a username and password; the
console quits while the engine keeps trading, and a new console shows the same positions at once
from retained state with no order lost or doubled; a wrong password is refused with a clear message
by the CLI, the engine and the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.settings import BusSettings, Settings
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from tests.support.engine_process import ROOT, EngineProcess, unique_namespace
from tests.support.tls_broker import TlsMosquitto, client_tls_context
from tests.test_end_to_end import engine_running, until

pytestmark = pytest.mark.integration

USER = "trader"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[TlsMosquitto]:
    broker = TlsMosquitto(USER, PASSWORD).start()
    yield broker
    broker.stop()


def secrets_file(directory: Path, password: str) -> Path:
    path = directory / "secrets.toml"
    path.write_text(f'[bus]\npassword = "{password}"\n')
    path.chmod(0o600)
    return path


def remote_flags(broker: TlsMosquitto, namespace: str, secrets: Path) -> list[str]:
    return [
        "--broker", broker.url, "--namespace", namespace,
        "--set", f"bus.username={USER}",
        "--set", f"bus.tls_ca_file={broker.certs.ca_file}",
        "--set", f"secrets.file={secrets}",
    ]  # fmt: skip


def stom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False, env=env,
    )  # fmt: skip


def console(broker: TlsMosquitto, namespace: str, password: str) -> StomApp:
    settings = Settings(
        bus=BusSettings(
            url=broker.url,
            namespace=namespace,
            keepalive_s=2,
            username=USER,
            tls_ca_file=str(broker.certs.ca_file),
        )
    )
    feed = MqttFeed(
        settings,
        host="localhost",
        port=broker.port,
        username=USER,
        password=password,
        tls_context=client_tls_context(broker.certs.ca_file),
    )
    return StomApp(settings, feed)


def buy(coid: str, flags: list[str], cwd: Path) -> dict[str, object]:
    result = stom(
        "order", "buy", "KRW-BTC.SIM", "0.01", "--type", "market", "--id", coid, "--json",
        *flags, cwd=cwd,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["result"]["order"]


def engine_positions(flags: list[str], cwd: Path) -> dict[str, str]:
    result = stom("positions", "--json", *flags, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)["result"]["positions"]
    return {row["instrument_id"]: row["quantity"] for row in rows}


def engine_orders(flags: list[str], cwd: Path) -> list[dict[str, str]]:
    result = stom("orders", "--json", *flags, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["result"]["orders"]


async def test_console_quits_engine_keeps_trading_new_console_shows_same_positions(
    tls_broker: TlsMosquitto, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    secrets = secrets_file(tmp_path, PASSWORD)
    flags = remote_flags(tls_broker, namespace, secrets)
    engine = EngineProcess(tls_broker.url, namespace, extra=flags[4:]).start()
    try:
        first = console(tls_broker, namespace, PASSWORD)
        async with first.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: engine_running(first), 20, "the engine over mqtts")
            buy("reattach-1", flags, tmp_path)
            await until(
                pilot,
                lambda: "KRW-BTC.SIM" in first.positions_pane.row_keys,
                15,
                "the position in the first console",
            )
            assert first.positions_pane.cell_text("KRW-BTC.SIM", "quantity") == "0.01"
            await pilot.press("q")

        # Nobody watches: the engine keeps running and trading.
        assert engine.process is not None and engine.process.poll() is None
        buy("reattach-2", flags, tmp_path)
        positions = engine_positions(flags, tmp_path)
        assert Decimal(positions["KRW-BTC.SIM"]) == Decimal("0.02")

        second = console(tls_broker, namespace, PASSWORD)
        async with second.run_test(size=(160, 48)) as pilot:
            opened = time.monotonic()
            # Retained state: the positions and both orders show without any new trade.
            await until(
                pilot,
                lambda: "KRW-BTC.SIM" in second.positions_pane.row_keys,
                5,
                "the position in the new console",
            )
            shown_after = time.monotonic() - opened
            assert second.positions_pane.cell_text("KRW-BTC.SIM", "quantity") == "0.02"
            await until(
                pilot,
                lambda: {"reattach-1", "reattach-2"} <= set(second.orders_pane.row_keys),
                5,
                "both orders in the new console",
            )
            assert engine_running(second)
            await pilot.press("q")
        assert shown_after < 5.0

        # No order lost or doubled: exactly the two orders, each filled once for 0.01.
        ours = [o for o in engine_orders(flags, tmp_path) if o["instrument_id"] == "KRW-BTC.SIM"]
        assert sorted(o["client_order_id"] for o in ours) == ["reattach-1", "reattach-2"]
        assert all(Decimal(o["filled"]) == Decimal("0.01") for o in ours), ours
        assert engine.process.poll() is None
    finally:
        engine.stop()
    assert "Traceback" not in engine.log()


async def test_wrong_password_is_refused_clearly_everywhere(
    tls_broker: TlsMosquitto, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    wrong = secrets_file(tmp_path, "not the password")
    flags = remote_flags(tls_broker, namespace, wrong)
    refused = "refused the username or password"

    status = stom("status", *flags, cwd=tmp_path)
    assert status.returncode == 1
    assert refused in status.stderr and "Traceback" not in status.stderr
    assert "not the password" not in status.stderr + status.stdout

    engine = EngineProcess(tls_broker.url, namespace, extra=flags[4:]).start()
    assert engine.wait(30) == 1
    log = engine.log()
    assert refused in log and "Traceback" not in log and "not the password" not in log

    app = console(tls_broker, namespace, "not the password")
    async with app.run_test(size=(160, 48)) as pilot:
        await until(
            pilot,
            lambda: any(refused in line for line in app.log_pane.entries),
            10,
            "the refusal in the console's log",
        )
        assert not app.refresh_health().feed_connected
        assert not any("not the password" in line for line in app.log_pane.entries)
        await pilot.press("q")

    # The right password works for the CLI (no engine there: it says so, and exits 1 cleanly).
    right = secrets_file(tmp_path, PASSWORD)
    status = stom("status", *remote_flags(tls_broker, namespace, right), cwd=tmp_path)
    assert "engine: absent" in status.stdout and refused not in status.stderr
