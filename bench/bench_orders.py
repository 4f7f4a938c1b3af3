"""Order latency: submit → accepted in process, and the command round trip over MQTT.

Workload 1 (in process): the real OMS with pre-trade risk (every rule), the SQLite journal (WAL,
synchronous=normal, on the data disk) and the paper exchange with zero order latency, on a market
of the default simulator instruments at their snapshot books. Each sample is one limit order placed
two ticks off the touch (so it rests): ``Oms.submit`` (risk, journal, venue) then ``Oms.pump``
until the exchange's ``OrderAccepted`` is journaled and applied. Open orders are cancelled every
40 orders (untimed) to stay under the open-order limit.

Workload 2 (over MQTT): a real engine subprocess on a real Mosquitto on loopback; a client sends
``order.submit`` (same kind of order) and waits for the reply; ``ping`` beside it for the bus's own
share.

Run: python bench/bench_orders.py [--orders 20000] [--remote 500]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.config.settings import JournalSettings, PaperSettings, RiskSettings, Settings
from engine.domain.clock import LiveClock
from engine.domain.instrument import Instrument
from engine.domain.market_data import MarketBatch
from engine.domain.orders import OrderSide, OrderType, TimeInForce
from engine.market_state import MarketState
from engine.oms.order_requests import OrderRequest
from engine.oms.startup import open_trading_core
from engine.sim.catalog import SIM_CATALOG, sim_instrument
from engine.sim.market import MarketSimulator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers start Mosquitto and the engine subprocess

SYMBOLS = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "005930", "000660", "035720"]
BIG = {"KRW": "1000000000000"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quantity_for(instrument: Instrument, price_raw: int, krw: int) -> int:
    """The smallest lot multiple worth at least ``krw`` at ``price_raw`` (above the minimum)."""
    target = krw * 10 ** (instrument.price_precision + instrument.size_precision)
    lot = instrument.lot_size_raw
    quantity = -(-target // price_raw)  # ceiling division
    return -(-quantity // lot) * lot


def in_process(orders: int) -> list[float]:
    clock = LiveClock()
    market = MarketState()
    instruments = [sim_instrument(symbol) for symbol in SYMBOLS]
    indexes = [market.add(instrument) for instrument in instruments]
    simulator = MarketSimulator(instruments, indexes, seed=7, rate=1000, book_depth=20,
                                start_ns=clock.now_ns())  # fmt: skip
    batch = MarketBatch()
    simulator.snapshot(batch)
    market.apply(batch)
    directory = Path(tempfile.mkdtemp(prefix="stom-bench-"))
    settings = Settings(
        journal=JournalSettings(file=str(directory / "journal.sqlite")),
        paper=PaperSettings(order_latency_ms=0.0, balances={"KRW": "1000000000000"}),
        risk=RiskSettings(
            max_order_notional=BIG,
            max_position_notional=BIG,
            max_gross_exposure=BIG,
            daily_loss_limit=BIG,
            max_drawdown=BIG,
            max_orders_per_second=10_000_000,
            max_open_orders=100,
            stale_feed_s=3600.0,
        ),
    )
    core = open_trading_core(settings, market, clock)
    oms = core.oms
    samples: list[float] = []
    gc.collect()
    for n in range(orders):
        instrument = instruments[n % len(instruments)]
        state = market.get(instrument.id)
        assert state is not None
        price = instrument.tick_table.step_down(state.best_bid, 2)
        request = OrderRequest(
            instrument=instrument,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            quantity_raw=quantity_for(instrument, price, 20_000),
            price_raw=price,
        )
        start = time.perf_counter_ns()
        now = clock.now_ns()
        order, _ = oms.submit(request, now)
        oms.pump(now)
        elapsed = time.perf_counter_ns() - start
        assert order.status.value == "accepted", (order.status, order.reason)
        samples.append(elapsed / 1000)
        if n % 40 == 39:
            oms.cancel_all(clock.now_ns())
            oms.pump(clock.now_ns())
    core.journal.close()
    return samples


async def over_mqtt(count: int) -> tuple[list[float], list[float]]:
    from engine.cli.remote import RemoteEngine
    from engine.config.broker_address import parse_broker_url
    from engine.config.settings import BusSettings
    from tests.support.brokers import MosquittoBroker
    from tests.support.engine_process import EngineProcess, unique_namespace

    broker = MosquittoBroker()
    broker.start()
    namespace = unique_namespace()
    engine = EngineProcess(broker.url, namespace, rate=400, extra=(
        "--set", "risk.max_orders_per_second=100000", "--set", "risk.max_open_orders=100000",
        "--set", "paper.order_latency_ms=0",
    )).start()  # fmt: skip
    try:
        settings = Settings(bus=BusSettings(url=broker.url, namespace=namespace))
        async with RemoteEngine(settings, parse_broker_url(broker.url), None) as remote:
            for _ in range(200):
                if await remote.alive_engine(timeout=0.5):
                    break
                await asyncio.sleep(0.05)
            pings, submits = [], []
            for _ in range(count):
                start = time.perf_counter_ns()
                await remote.request("ping", timeout=5)
                pings.append((time.perf_counter_ns() - start) / 1000)
            # 2-3 % under the simulator's starting price: inside the 5 % band, resting.
            base = int(SIM_CATALOG["KRW-BTC"].start_price * 97 // 100)
            for n in range(count):
                price = str(base + (n % 50) * 1000)
                args = {"instrument": "KRW-BTC.SIM", "side": "buy", "type": "limit",
                        "quantity": "0.0001", "price": price}  # fmt: skip
                start = time.perf_counter_ns()
                reply = await remote.request("order.submit", args, timeout=5)
                submits.append((time.perf_counter_ns() - start) / 1000)
                assert reply.status == "accepted", reply.reason
        return pings, submits
    finally:
        engine.stop()
        broker.stop()


def report(name: str, samples: list[float]) -> None:
    print(
        f"  {name:<34} n={len(samples):>6}  p50 {percentile(samples, 0.5):>9.1f} µs  "
        f"p99 {percentile(samples, 0.99):>9.1f} µs  max {max(samples):>9.1f} µs  "
        f"mean {statistics.fmean(samples):>8.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--remote", type=int, default=500)
    args = parser.parse_args()
    print(f"submit → accepted, in process (risk + journal + paper exchange), {args.orders} orders")
    report("in process", in_process(args.orders))
    print(f"command round trip over MQTT (Mosquitto on loopback), {args.remote} each")
    pings, submits = asyncio.run(over_mqtt(args.remote))
    report("ping round trip", pings)
    report("order.submit round trip", submits)
    print(
        f"  order.submit / ping p50 ratio: {percentile(submits, 0.5) / percentile(pings, 0.5):.2f}"
    )


if __name__ == "__main__":
    main()
