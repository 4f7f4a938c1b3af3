"""An order from ``stom order`` reaches the paper broker through the real broker and the real
engine, fills, and the position appears in the console (Pilot) and in ``stom positions``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.settings import BusSettings, Settings
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from tests.support.brokers import Broker
from tests.support.engine_process import ROOT, EngineProcess, unique_namespace
from tests.test_end_to_end import engine_running, until

pytestmark = pytest.mark.integration


def stom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


async def test_cli_order_fills_on_paper_and_shows_in_the_console(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    flags = ("--broker", mosquitto.url, "--namespace", namespace)
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace, keepalive_s=2))
    engine = EngineProcess(mosquitto.url, namespace).start()
    app = StomApp(settings, MqttFeed(settings, host=mosquitto.host, port=mosquitto.port))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: engine_running(app), 20, "the engine")
            bought = stom("order", "buy", "KRW-BTC.SIM", "0.01", "--type", "market", "--json",
                          *flags, cwd=tmp_path)  # fmt: skip
            assert bought.returncode == 0, bought.stdout + bought.stderr
            order = json.loads(bought.stdout)["result"]["order"]
            assert order["instrument_id"] == "KRW-BTC.SIM" and order["quantity"] == "0.01000000"
            # The fill comes back over the bus: the Positions pane shows the new position.
            await until(
                pilot,
                lambda: "KRW-BTC.SIM" in app.positions_pane.row_keys,
                15,
                "the position in the console",
            )
            assert app.positions_pane.cell_text("KRW-BTC.SIM", "quantity") == "0.01"
            await until(
                pilot,
                lambda: order["client_order_id"] in app.orders_pane.row_keys,
                5,
                "the order in the Orders pane",
            )
        positions = stom("positions", "--json", *flags, cwd=tmp_path)
        rows = json.loads(positions.stdout)["result"]["positions"]
        assert [(row["instrument_id"], row["quantity"]) for row in rows] == [
            ("KRW-BTC.SIM", "0.01000000")
        ]
        listed = stom("orders", *flags, cwd=tmp_path)
        assert listed.returncode == 0 and "filled" in listed.stdout
        cancel = stom("cancel", "NOPE-1", *flags, cwd=tmp_path)
        assert cancel.returncode == 1 and "unknown order id 'NOPE-1'" in cancel.stdout
    finally:
        engine.stop()
    # One FILL line per level the market order took (it may walk more than one).
    fills = re.findall(r"FILL buy ([0-9.]+) KRW-BTC\.SIM @", engine.log())
    assert fills and sum(Decimal(size) for size in fills) == Decimal("0.01")
