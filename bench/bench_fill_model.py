"""Fill-model throughput: MarketState.apply alone beside apply + PaperExchange.on_batch.

Workload: simulator book and trade events (engine.sim.market.MarketSimulator) for the default six
instruments (3 crypto on the Upbit KRW grid, 3 KRX stocks), pre-generated at 200,000 events per
simulated second in 5 ms steps (about 1,000 events per batch). With the exchange, 100 GTC limit
orders rest from the start, spread evenly over the instruments and both sides, 0 to 4 ticks
behind the touch, each about half a typical level in size. After every batch the engine's other
exchange work runs (advance, drain) and orders that filled are replaced at the current touch, so
about 100 keep resting; that upkeep is timed separately and not counted in the figures.

    python bench/bench_fill_model.py [--events N] [--orders N] [--repeat N] [--seed S]

Both runs use the same batches in one process; each figure is the best of ``--repeat`` runs.
Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from dataclasses import dataclass

from engine.domain.instrument import Instrument
from engine.domain.market_data import TRADE, MarketBatch
from engine.domain.orders import (
    Order,
    OrderFilled,
    OrderSide,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.market_state import MarketState
from engine.paper import PaperExchange
from engine.sim.catalog import sim_instrument, sim_spec
from engine.sim.market import MarketSimulator

SYMBOLS = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "005930", "000660", "035720"]
START_NS = 1_704_153_600 * 1_000_000_000  # 2024-01-02 09:00 KST, the KRX open
STEP_NS = 5_000_000
RATE = 200_000.0
MAX_TICKS_BEHIND = 4


@dataclass
class Run:
    elapsed_s: float
    fills: int = 0
    replaced: int = 0
    resting_sum: int = 0
    upkeep_s: float = 0.0


def generate(
    instruments: list[Instrument], events: int, seed: int
) -> tuple[MarketBatch, list[MarketBatch]]:
    simulator = MarketSimulator(
        instruments, list(range(len(instruments))), seed=seed, rate=RATE, start_ns=START_NS
    )
    snapshot = MarketBatch()
    simulator.snapshot(snapshot)
    batches: list[MarketBatch] = []
    made = 0
    until = START_NS
    while made < events:
        until += STEP_NS
        batch = MarketBatch()
        made += simulator.step(until, batch)
        batches.append(batch)
    return snapshot, batches


def fresh_market(instruments: list[Instrument], snapshot: MarketBatch) -> MarketState:
    market = MarketState()
    for instrument in instruments:
        market.add(instrument)
    market.apply(snapshot)
    return market


def run_apply_alone(
    instruments: list[Instrument], snapshot: MarketBatch, batches: list[MarketBatch]
) -> Run:
    market = fresh_market(instruments, snapshot)
    apply = market.apply
    gc.collect()
    started = time.perf_counter()
    for batch in batches:
        apply(batch)
    return Run(time.perf_counter() - started)


class Placer:
    """Places resting limit orders near the touch and keeps their number up."""

    def __init__(self, market: MarketState, exchange: PaperExchange, orders: int) -> None:
        self.market = market
        self.exchange = exchange
        self.target = orders
        self.count = 0
        self.sizes: list[int] = []
        for state in market:
            spec = sim_spec(state.instrument.id.symbol)
            level = spec.level_size * 10**state.instrument.size_precision
            self.sizes.append(max(1, int(level / 2)))

    def place(self, slot: int, now_ns: int) -> None:
        """Order number ``slot`` goes to instrument ``slot % n``, alternating sides and depth."""
        states = list(self.market)
        state = states[slot % len(states)]
        buy = (slot // len(states)) % 2 == 0
        behind = (slot // (2 * len(states))) % (MAX_TICKS_BEHIND + 1)
        table = state.instrument.tick_table
        if buy:
            price = table.step_down(state.best_bid, behind)
        else:
            price = table.step_up(state.best_ask, behind)
        self.count += 1
        order = Order(
            OrderSubmitted(
                ts=now_ns,
                client_order_id=f"b{self.count}",
                instrument_id=state.instrument.id,
                side=OrderSide.BUY if buy else OrderSide.SELL,
                order_type=OrderType.LIMIT,
                time_in_force=TimeInForce.GTC,
                quantity_raw=self.sizes[state.index],
                price_raw=price,
            )
        )
        self.exchange.submit(order, now_ns)

    def top_up(self, now_ns: int) -> int:
        missing = self.target - len(self.exchange.open_order_ids())
        for _ in range(missing):
            self.place(self.count, now_ns)
        return max(0, missing)


def count_fills(exchange: PaperExchange) -> int:
    return sum(1 for event in exchange.drain() if isinstance(event, OrderFilled))


def run_with_exchange(
    instruments: list[Instrument], snapshot: MarketBatch, batches: list[MarketBatch], orders: int
) -> Run:
    market = fresh_market(instruments, snapshot)
    exchange = PaperExchange(market, order_latency_ns=0, id_prefix="B")
    placer = Placer(market, exchange, orders)
    for slot in range(orders):
        placer.place(slot, START_NS)
    exchange.advance(START_NS)
    exchange.drain()
    run = Run(0.0)
    apply, on_batch = market.apply, exchange.on_batch
    perf = time.perf_counter
    gc.collect()
    for batch in batches:
        started = perf()
        apply(batch)
        if exchange.has_work:
            on_batch(batch)
        middle = perf()
        now = batch.ts_event[-1] if len(batch) else START_NS
        exchange.advance(now)
        run.fills += count_fills(exchange)
        run.resting_sum += len(exchange.open_order_ids())
        run.replaced += placer.top_up(now)
        exchange.advance(now)
        run.fills += count_fills(exchange)
        run.elapsed_s += middle - started
        run.upkeep_s += perf() - middle
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events to replay")
    parser.add_argument("--orders", type=int, default=100, help="resting paper orders")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best is shown")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    instruments = [sim_instrument(symbol) for symbol in SYMBOLS]
    started = time.perf_counter()
    snapshot, batches = generate(instruments, args.events, args.seed)
    generation_s = time.perf_counter() - started
    events = sum(len(batch) for batch in batches)
    trades = sum(batch.kind.count(TRADE) for batch in batches)
    print(
        f"workload: {len(SYMBOLS)} instruments ({', '.join(SYMBOLS)}), {events:,} simulator "
        f"events ({trades / events:.1%} trades) at {RATE:,.0f}/simulated s in "
        f"{len(batches):,} batches of {STEP_NS / 1e6:g} ms (~{events / len(batches):,.0f} events)"
    )
    print(
        f"exchange: {args.orders} resting GTC limit orders, even over instruments and sides, "
        f"0-{MAX_TICKS_BEHIND} ticks behind the touch, filled ones replaced at the touch"
    )
    print(f"python {platform.python_version()} on {platform.machine()}, one thread")
    print(f"generation: {generation_s:.2f} s (not counted)")

    alone: list[Run] = []
    paired: list[Run] = []
    for _ in range(args.repeat):
        alone.append(run_apply_alone(instruments, snapshot, batches))
        paired.append(run_with_exchange(instruments, snapshot, batches, args.orders))
    best_alone = min(alone, key=lambda run: run.elapsed_s)
    best_paired = min(paired, key=lambda run: run.elapsed_s)
    alone_rate = events / best_alone.elapsed_s
    paired_rate = events / best_paired.elapsed_s
    exchange_only = events / (best_paired.elapsed_s - best_alone.elapsed_s)
    print()
    print(f"{'':34}{'events/s':>14}{'µs/event':>11}")
    print(f"{'MarketState.apply alone':34}{alone_rate:14,.0f}{1e6 / alone_rate:11.3f}")
    print(f"{'apply + PaperExchange.on_batch':34}{paired_rate:14,.0f}{1e6 / paired_rate:11.3f}")
    print(f"{'on_batch share (difference)':34}{exchange_only:14,.0f}{1e6 / exchange_only:11.3f}")
    print(f"ratio (apply + on_batch) / apply alone: {paired_rate / alone_rate:.2f}x the throughput")
    print()
    print(
        f"paper fills: {best_paired.fills:,}; orders replaced: {best_paired.replaced:,}; "
        f"resting on average: {best_paired.resting_sum / len(batches):.1f}; "
        f"upkeep (advance, drain, top-up; not counted): {best_paired.upkeep_s:.2f} s"
    )


if __name__ == "__main__":
    main()
