"""Crash test with strategies trading: ``kill -9`` the real engine subprocess (real Mosquitto)
20 times while two strategies trade ``KRW-BTC.SIM`` at a high simulator rate beside a manual
position; then every strategy's own position and fill count equal what the journal's fills of
its own orders give, and no strategy ever sold what it did not hold.

Before the fix a strategy's position and fill count were restored from a snapshot saved at
flush (≤ 10 Hz), apart from the fills: a kill between a fill and the next save left them stale,
and the strategy then sold what it no longer held (issue 12, finding 1).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.domain.orders import OrderSide
from engine.domain.positions import Position
from engine.journal import Journal, recover
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace

pytestmark = pytest.mark.integration

KILLS = 20
BTC = "KRW-BTC.SIM"

FLIPPER = '''"""Buys 0.001 BTC when flat, sells all it holds when long, every few trades."""
from engine.strategy.api import Param, Strategy


class Flipper(Strategy):
    every = Param(3, low=1, high=100, step=1, doc="trades between decisions")

    def on_start(self):
        self.seen = 0

    def on_trade(self, i, price, size, side, ts):
        self.seen += 1
        if self.seen % self.every or self.ctx.open_orders(i):
            return
        if self.ctx.position(i) > 0:
            self.ctx.close_position(i)
        else:
            self.ctx.buy(i, self.ctx.size_raw(i, 0.001))
'''


def _config(tmp_path: Path) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "flipper.py").write_text(FLIPPER)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategies]\ndir = "{folder}"\n'
        '[[strategies.enabled]]\nfile = "flipper.py"\nid = "fast"\n'
        'instruments = ["KRW-BTC.SIM"]\nparams = { every = 2 }\n'
        '[[strategies.enabled]]\nfile = "flipper.py"\nid = "slow"\n'
        'instruments = ["KRW-BTC.SIM"]\nparams = { every = 5 }\n'
    )
    return config


async def _wait_running(remote: RemoteEngine, pid: int) -> None:
    async with asyncio.timeout(20):
        while True:
            status = await remote.alive_engine(timeout=0.5)
            if status is not None and status.pid == pid:
                return
            await asyncio.sleep(0.02)


def _replay(journal_path: Path) -> tuple[dict[str, Position], dict[str, int], list[str]]:
    """Per strategy: the position and fill count its journaled fills give, and every point at
    which it sold more than it held."""
    with Journal(journal_path) as journal:
        recovered = recover(journal)
    assert recovered.differences == []
    positions: dict[str, Position] = {}
    counts: dict[str, int] = {}
    oversold: list[str] = []
    for fill in recovered.fills:
        order = recovered.orders[fill.client_order_id]
        if not order.strategy_id:
            continue
        position = positions.setdefault(order.strategy_id, Position(BTC))
        position.apply_fill(
            order.side, fill.price_raw, fill.quantity_raw, fill.fee_raw, fill.ts,
            fee_base_raw=fill.fee_base_raw,
        )  # fmt: skip
        counts[order.strategy_id] = counts.get(order.strategy_id, 0) + 1
        if order.side is OrderSide.SELL and position.quantity_raw < 0:
            oversold.append(f"{order.strategy_id} {fill.client_order_id}: {position.quantity_raw}")
    return positions, counts, oversold


async def test_strategy_positions_survive_twenty_kill_minus_nines(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    extra = [
        "--config", str(_config(tmp_path)),
        "--set", "risk.max_orders_per_second=10000",
        "--set", "paper.order_latency_ms=2",
    ]  # fmt: skip
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace))
    rng = random.Random(20261207)

    def engine() -> EngineProcess:
        return EngineProcess(
            mosquitto.url, namespace, rate=5000, data_dir=data_dir, extra=extra
        ).start()

    running = engine()
    try:
        async with RemoteEngine(settings, parse_broker_url(mosquitto.url), None) as remote:
            await _wait_running(remote, running.pid)
            # The account holds BTC no strategy bought: a strategy must never sell it.
            reply = await remote.request(
                "order.submit",
                {"instrument": BTC, "side": "buy", "type": "market", "quantity": "0.01"},
                timeout=5,
            )
            assert reply.status == "accepted", reply.reason
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.1, 0.35))
                os.kill(running.pid, signal.SIGKILL)
                running.wait(10)
                running = engine()
                await _wait_running(remote, running.pid)
            await asyncio.sleep(0.5)
            listing = await remote.request("strategy.list", {}, timeout=5)
            assert listing.result is not None
            shown = {row["id"]: row["fills"] for row in listing.result["strategies"]}
        running.signal(signal.SIGTERM)
        assert running.wait(15) == 0
    finally:
        running.stop()
    journal_path = data_dir / f"journal-{namespace}.sqlite"
    positions, counts, oversold = _replay(journal_path)
    assert oversold == [], "a strategy sold what it did not hold"
    assert counts.get("fast", 0) >= 20 and counts.get("slow", 0) >= 5, counts
    with Journal(journal_path) as journal:
        saved = journal.state("strategies")
    assert isinstance(saved, dict)
    for strategy_id in ("fast", "slow"):
        own = saved[strategy_id]  # written at the clean stop from the engine's own view
        replayed = positions[strategy_id]
        assert own["positions"][BTC]["quantity_raw"] == replayed.quantity_raw, strategy_id
        assert own["positions"][BTC]["realized_raw"] == replayed.realized_raw, strategy_id
        assert own["fills"] == counts[strategy_id], strategy_id
        assert shown[strategy_id] <= counts[strategy_id]


class _Held:
    """The one thing Bracket asks of a context here: the position."""

    def __init__(self) -> None:
        self.held = 0

    def position(self, i: int) -> int:
        return self.held


def test_the_templates_bracket_recovers_from_a_stale_saved_entry() -> None:
    from engine.strategy.api import StrategyFill
    from engine.strategy.bracket import Bracket

    ctx = _Held()
    bracket = Bracket(take_profit_bps=20, stop_loss_bps=15, max_hold_s=60)
    # Long with no entry on record (the fill came after the last save): exits work from here.
    ctx.held = 100
    assert bracket.exit_reason(0, 1_000_000, 5) is None
    assert bracket.exit_reason(0, 1_002_000, 6) == "take-profit"
    assert bracket.exit_reason(0, 1_000_000, 5 + 60 * 10**9) == "time"
    # A saved entry outliving its position (the exit filled after the save): a buy from flat
    # starts a new entry instead of inheriting the old one.
    bracket.entry_price[0], bracket.entry_ts[0] = 900_000, 1
    ctx.held = 100
    fill = StrategyFill(0, "c1", OrderSide.BUY, 1_000_000, 100, 0, "taker", 10)
    bracket.on_fill(ctx, fill)  # type: ignore[arg-type]
    assert (bracket.entry_price[0], bracket.entry_ts[0]) == (1_000_000, 10)
