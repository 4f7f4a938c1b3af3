"""Crash test: ``kill -9`` the real engine at random moments while a scripted sequence of orders
runs; after every restart the journal holds every acknowledged order exactly once, and at the end
the orders, fills and positions equal those of the same script run without a crash.

Every order carries a client order id, so a command cut off by the crash is simply sent again
(idempotent), as a careful client would.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.journal import Journal, recover
from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.sim.catalog import sim_instrument
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace

pytestmark = pytest.mark.integration

BTC = "KRW-BTC.SIM"
ROUNDS = 30
KILLS = 20
EXTRA = ("--set", "risk.max_orders_per_second=10000", "--set", "paper.order_latency_ms=5")


@dataclass(frozen=True)
class Step:
    type: str
    args: dict[str, Any]
    order_id: str
    after: str = ""
    """An order that must be filled first (a sell waits for the buy it sells)."""


def submit(
    order_id: str, side: str, order_type: str, quantity: str, price: int = 0, after: str = ""
) -> Step:
    args: dict[str, Any] = {
        "instrument": BTC,
        "side": side,
        "type": order_type,
        "quantity": quantity,
        "client_order_id": order_id,
    }
    if price:
        args["price"] = str(price)
    return Step("order.submit", args, order_id, after)


def script(limit_price: int) -> list[Step]:
    steps: list[Step] = []
    for n in range(ROUNDS):
        steps.append(submit(f"s{n}-lim", "buy", "limit", "0.001", limit_price))
        steps.append(submit(f"s{n}-mkt", "buy", "market", "0.002"))
        if n:
            steps.append(Step("order.cancel", {"client_order_id": f"s{n - 1}-lim"}, ""))
        steps.append(submit(f"s{n}-sell", "sell", "market", "0.001", after=f"s{n}-mkt"))
    return steps


async def best_bid(broker: Broker, namespace: str) -> int:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"stom/{namespace}/md/tickers")
        async with asyncio.timeout(10):
            async for message in client.messages:
                tickers = decode(message.payload, p.Tickers)  # type: ignore[arg-type]
                for ticker in tickers.tickers:
                    if ticker.id == BTC and ticker.bid:
                        return int(ticker.bid)
    raise AssertionError("no KRW-BTC.SIM ticker")


async def wait_running(remote: RemoteEngine, pid: int) -> None:
    async with asyncio.timeout(20):
        while True:
            status = await remote.alive_engine(timeout=0.5)
            if status is not None and status.pid == pid:
                return
            await asyncio.sleep(0.05)


async def send(remote: RemoteEngine, step: Step) -> p.Reply:
    if step.after:
        async with asyncio.timeout(1.5):
            while True:
                listed = await remote.request("orders", {"open": False}, timeout=1.5)
                statuses = {o["client_order_id"]: o["status"] for o in listed.result["orders"]}
                if statuses.get(step.after) == "filled":
                    break
                await asyncio.sleep(0.005)
    reply = await remote.request(step.type, step.args, timeout=1.5)
    if step.type == "order.cancel" and reply.status == "rejected":
        assert "already" in (reply.reason or ""), reply.reason  # cancelled before the crash
    else:
        assert reply.status == "accepted", f"{step}: {reply.reason}"
    return reply


def outcome(data_dir: Path, namespace: str) -> dict[str, Any]:
    with Journal(data_dir / f"journal-{namespace}.sqlite") as journal:
        recovered = recover(journal)
    assert recovered.differences == []
    trade_ids = [fill.trade_id for fill in recovered.fills]
    assert len(trade_ids) == len(set(trade_ids)), "a fill was journaled twice"
    fills_by_order: dict[str, int] = {}
    for fill in recovered.fills:
        fills_by_order[fill.client_order_id] = (
            fills_by_order.get(fill.client_order_id, 0) + fill.quantity_raw
        )
    orders = {}
    for coid, order in recovered.orders.items():
        assert fills_by_order.get(coid, 0) == order.filled_raw
        orders[coid] = (order.status.value, order.side.value, order.quantity_raw, order.filled_raw)
    position = recovered.positions.get(BTC)
    return {"orders": orders, "position": position.quantity_raw if position else 0}


async def run(broker: Broker, namespace: str, data_dir: Path, kills: int) -> dict[str, Any]:
    settings = Settings(bus=BusSettings(url=broker.url, namespace=namespace))
    rng = random.Random(20261121)
    engine = EngineProcess(broker.url, namespace, data_dir=data_dir, extra=EXTRA).start()
    acknowledged: set[str] = set()
    killed = 0
    try:
        async with RemoteEngine(settings, parse_broker_url(broker.url), None) as remote:
            await wait_running(remote, engine.pid)
            steps = script(sim_instrument("KRW-BTC").tick_table.round_down(
                int(await best_bid(broker, namespace) * 0.97)))  # fmt: skip
            position = 0
            loop = asyncio.get_running_loop()
            while position < len(steps) or killed < kills:
                crash = killed < kills
                deadline = loop.time() + rng.uniform(0.0, 0.06) if crash else float("inf")
                while position < len(steps) and loop.time() < deadline:
                    try:
                        await send(remote, steps[position])
                    except TimeoutError:
                        break
                    if steps[position].order_id:
                        acknowledged.add(steps[position].order_id)
                    position += 1
                if not crash:
                    break
                os.kill(engine.pid, signal.SIGKILL)
                engine.wait(10)
                killed += 1
                engine = EngineProcess(broker.url, namespace, data_dir=data_dir, extra=EXTRA)
                engine.start()
                await wait_running(remote, engine.pid)
                # Nothing acknowledged is lost or doubled.
                listed = (await remote.request("orders", {}, timeout=3)).result["orders"]
                ids = [row["client_order_id"] for row in listed]
                assert len(ids) == len(set(ids))
                assert acknowledged <= set(ids), acknowledged - set(ids)
            # Let the last orders settle, then stop cleanly.
            await asyncio.sleep(0.3)
    finally:
        engine.stop()
    assert killed == kills
    return outcome(data_dir, namespace)


async def test_kill_minus_nine_at_random_points_loses_and_doubles_nothing(
    mosquitto: Broker,
) -> None:
    baseline_dir = Path(tempfile.mkdtemp(prefix="stom-baseline-"))
    crash_dir = Path(tempfile.mkdtemp(prefix="stom-crash-"))
    baseline = await run(mosquitto, unique_namespace(), baseline_dir, kills=0)
    crashed = await run(mosquitto, unique_namespace(), crash_dir, kills=KILLS)
    assert crashed == baseline
    assert baseline["position"] == ROUNDS * 100_000  # 0.001 BTC kept per round
