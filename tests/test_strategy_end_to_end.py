"""A strategy from a file trades on the simulator in a real engine subprocess and shows in the
console's Strategies pane (real Mosquitto, real MQTT feed); a broken edit takes it out with
file:line in the log, a fix brings it back, and ``t`` stops it through the real command path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config.settings import BusSettings, Settings
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace
from tests.test_end_to_end import engine_running, until

pytestmark = pytest.mark.integration

ROUND_TRIPPER = '''"""Buys 0.001 BTC, sells it 20 trades later, again and again."""
from engine.strategy.api import Param, Strategy


class RoundTripper(Strategy):
    hold = Param(20, low=1, high=1000, step=1, doc="trades to hold")

    def on_start(self):
        self.seen = 0

    def on_trade(self, i, price, size, side, ts):
        self.seen += 1
        if self.ctx.open_orders(i) or self.seen % self.hold:
            return
        if self.ctx.position(i) > 0:
            self.ctx.close_position(i)
        else:
            self.ctx.buy(i, self.ctx.size_raw(i, 0.001))
'''


def edit(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


async def test_a_strategy_file_trades_shows_in_the_pane_and_survives_a_broken_edit(
    mosquitto: Broker, tmp_path: Path
) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    strategy = folder / "round_tripper.py"
    strategy.write_text(ROUND_TRIPPER)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategies]\ndir = "{folder}"\nreload_s = 0.2\n'
        '[[strategies.enabled]]\nfile = "round_tripper.py"\nid = "rt"\n'
        'instruments = ["KRW-BTC.SIM"]\n'
    )
    namespace = unique_namespace()
    engine = EngineProcess(mosquitto.url, namespace, extra=["--config", str(config)]).start()
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace, keepalive_s=2))
    app = StomApp(settings, MqttFeed(settings, host=mosquitto.host, port=mosquitto.port))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.strategies_pane
            await until(pilot, lambda: engine_running(app), 20, "the engine")
            await until(pilot, lambda: "rt" in pane.row_keys, 10, "the strategy in the pane")
            assert pane.region.height > 0
            await until(
                pilot, lambda: int(pane.cell_text("rt", "fills")) >= 2, 30, "the strategy's fills"
            )
            assert pane.cell_text("rt", "state") == "running"
            assert "rt" in {order.strategy_id for order in app.orders_pane.orders.values()}

            # A broken edit: only this strategy stops, with file and line in pane and log.
            edit(strategy, ROUND_TRIPPER.replace("self.seen += 1", "self.seen += "))
            await until(pilot, lambda: pane.cell_text("rt", "state") == "error", 10, "the error")
            where = f"{strategy}:12"
            assert where in pane.strategies["rt"].error  # type: ignore[operator]
            await until(
                pilot,
                lambda: any(
                    where in line and "SyntaxError" in line for line in app.log_pane.entries
                ),
                10,
                "file:line in the console log",
            )
            assert engine_running(app)

            edit(strategy, ROUND_TRIPPER)
            await until(
                pilot, lambda: pane.cell_text("rt", "state") == "running", 10, "the fixed strategy"
            )

            # t stops the selected strategy through the engine.
            await pilot.press("S")
            await pilot.press("t")
            await until(pilot, lambda: pane.cell_text("rt", "state") == "stopped", 10, "stopped")
    finally:
        engine.stop()
    log = engine.log()
    assert f"strategy rt disabled: {strategy}:12: SyntaxError" in log
    assert "strategy rt loaded from" in log
