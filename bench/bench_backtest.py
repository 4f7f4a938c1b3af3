"""Backtest throughput and memory: recorded ticks through the full path (strategy, runner, risk,
OMS, paper fill model) versus bare pure-Python loops over the same ticks.

    python bench/bench_backtest.py [--shape real] [--trades N] [--rounds N]
    python bench/bench_backtest.py --shape batched [--ticks N] [--memory-base N]

``--shape real`` (the default): ``bench/real_shaped.py`` data, shaped like real feeds: one trade
per ``ts_init``, quote changes as book-level batches between trades, about 25 trades/s, one day
of ``--trades`` (2 M by default). Prints, in one run and each in its own process (for its peak
RSS): the backtest of ``tests/strategies/two_ma.py`` (two moving averages, take-profit and
stop-loss, market orders; default paper settings, 20 ms order latency) and of a strategy that
does nothing (``bench/strategies/noop.py``), each as trades/s and events/s, with its ratio to a
bare pure-Python loop that runs the two-MA logic (same averages, same TP/SL rule, instant fills)
over the same trades in this run, and peak RSS.

The backtests take the hot loop (:mod:`engine.backtest.hot_loop`) where it applies, as
``stom backtest`` does, with its compiled one-instrument lane where it was built; the two-MA and
no-op backtests run once more with the pure-Python lane (``STOM_PURE_PYTHON=1``: what a machine
with no C compiler runs), and the two-MA once more with every batch through the general path
(``TickPipeline.process_batch``), what the hot loop is measured against. A last run quotes
with limit orders (``tests/strategies/trade_limits.py``: a tick from each trade, cancelled after
40 trades), so orders rest on the paper exchange most of the day: a scalper's workload, where
the one-instrument lane goes on while orders rest and hands the fill model only the batches it
acts on, and the general path takes each order's time on its way.

Each figure is measured ``--rounds`` times (3 by default), all of them in turn each round, and
printed as the median; each ratio is the median of the ratios within one round.

It also prints the *callback ceiling*: the two-MA strategy class's own ``on_trade`` called in a
plain loop over the same trades, with a minimal context that fills every order at once at the
trade's price (no market state, no risk, no OMS, no paper exchange, no latency; see
:class:`InstantFills`). No engine that calls a Python strategy once per trade can beat that
loop, so its ratio to the bare loop bounds what the event path can reach.

``--shape batched``: ``stom data sample`` data (KRW-BTC and KRW-ETH from the simulator, 2,000
events per simulated second in 5 ms batches, about ten events a batch), the older figures:
events/s of the backtest against a loop that reads the same replay and touches every event,
then peak RSS over the base dataset and over 10x as many days. Benches assert nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.real_shaped import trade_prices, trade_rows, write_real_shaped  # noqa: E402
from engine.backtest.hot_loop import COMPILED_LANE  # noqa: E402
from engine.backtest.replay import plan_replay, replay_batches  # noqa: E402
from engine.backtest.request import BacktestRequest  # noqa: E402
from engine.backtest.run import run_backtest  # noqa: E402
from engine.backtest.sample_data import write_sample  # noqa: E402
from engine.config.settings import Settings  # noqa: E402
from engine.domain.fixed_point import floor_raw  # noqa: E402
from engine.domain.instrument import Instrument  # noqa: E402
from engine.domain.market_data import TRADE  # noqa: E402
from engine.domain.orders import OrderSide, TimeInForce  # noqa: E402
from engine.market_state import MarketState  # noqa: E402
from engine.storage.tick_store import TickStore  # noqa: E402
from engine.strategy.api import Strategy, StrategyFill  # noqa: E402
from engine.strategy.loader import load_strategy_class  # noqa: E402

STRATEGY = ROOT / "tests" / "strategies" / "two_ma.py"
NOOP = ROOT / "bench" / "strategies" / "noop.py"
LIMITS = ROOT / "tests" / "strategies" / "trade_limits.py"
"""Limit orders a tick from each trade, cancelled after 40 trades: orders rest most of the day."""
SYMBOLS = ("KRW-BTC", "KRW-ETH")
RATE = 2_000.0
PARAMS: dict[str, int | float] = {"fast": 20, "slow": 100, "take_profit_bp": 4, "stop_loss_bp": 4}


def make_dataset(root: Path, ticks: int, days: int) -> int:
    minutes = ticks / RATE / 60 / days
    report = write_sample(
        root, symbols=SYMBOLS, days=days, first_day=date(2026, 1, 5),
        session_minutes=minutes, rate=RATE, seed=7,
    )  # fmt: skip
    return report.total_rows


def pure_loop(root: Path) -> tuple[int, float]:
    """The floor: read the same replay and touch every event (sum trade sizes)."""
    store = TickStore(root)
    ids = store.instrument_ids()
    market = MarketState()
    indexes = [market.add(store.instrument(iid)) for iid in ids]
    plan = plan_replay(store, ids, indexes, None, None)
    started = time.perf_counter()
    events = volume = 0
    for _, batch, _ in replay_batches(store, plan):
        for kind, size in zip(batch.kind, batch.size, strict=True):
            if kind == TRADE:
                volume += size
        events += len(batch.kind)
    return events, time.perf_counter() - started


def bare_two_ma(prices: list[int], fast: int, slow: int, tp_bp: int, sl_bp: int) -> int:
    """The two-MA strategy's logic as a bare loop: the same integer window sums, the same
    crossing and TP/SL rules, entries and exits filled at once at the trade's price. Returns
    round trips."""
    ring = [0] * slow
    fast_sum = slow_sum = seen = entry = trips = 0
    above = False
    for price in prices:
        slow_sum += price - ring[seen % slow]
        fast_sum += price - ring[(seen - fast) % slow] if seen >= fast else price
        ring[seen % slow] = price
        seen += 1
        if seen < slow:
            continue
        if entry:
            scaled = price * 10_000
            if scaled >= entry * 10_000 + entry * tp_bp or scaled <= entry * 10_000 - entry * sl_bp:
                entry = 0
                trips += 1
            continue
        now_above = fast_sum * slow > slow_sum * fast
        if now_above and not above:
            entry = price
        above = now_above
    return trips


class _Done:
    """What ``on_order`` reads of an order that has ended (instantly, here)."""

    __slots__ = ("instrument_id",)
    is_open = False

    def __init__(self, instrument_id: str) -> None:
        self.instrument_id = instrument_id


class InstantFills:
    """The least context a strategy can run on, for the callback ceiling: one instrument, index
    0; every order fills at once, whole, at the price of the trade being delivered
    (``price``, set by the loop), with no fee; ``on_fill`` and ``on_order`` are called inside
    the ``buy``/``sell``. Only what the two-MA strategy calls is here."""

    def __init__(self, instrument: Instrument) -> None:
        self.strategy_id = "ceiling"
        self.price = 0
        self.held = 0
        self.fills = 0
        self.strategy: Strategy | None = None
        self._instrument = instrument
        self._done = _Done(str(instrument.id))

    def instrument(self, i: int) -> Instrument:
        return self._instrument

    def index_of(self, instrument_id: str) -> int:
        return 0

    def position(self, i: int) -> int:
        return self.held

    def size_raw(self, i: int, value: float) -> int:
        """As the engine's context: floored to the size precision, then to the lot."""
        raw = floor_raw(Decimal(str(value)), self._instrument.size_precision)
        return raw - raw % self._instrument.lot_size_raw

    def buy(self, i: int, quantity: int, price: int | None = None,
            tif: TimeInForce = TimeInForce.GTC) -> str:  # fmt: skip
        return self._fill(OrderSide.BUY, quantity)

    def sell(self, i: int, quantity: int, price: int | None = None,
             tif: TimeInForce = TimeInForce.GTC) -> str:  # fmt: skip
        return self._fill(OrderSide.SELL, quantity)

    def close_position(self, i: int) -> str | None:
        held = self.held
        if not held:
            return None
        return self._fill(OrderSide.SELL if held > 0 else OrderSide.BUY, abs(held))

    def _fill(self, side: OrderSide, quantity: int) -> str:
        assert self.strategy is not None
        self.held += quantity if side is OrderSide.BUY else -quantity
        self.fills += 1
        coid = f"C{self.fills}"
        self.strategy.on_fill(StrategyFill(i=0, client_order_id=coid, side=side,
                                           price=self.price, quantity=quantity, fee=0,
                                           liquidity="taker", ts=0))  # fmt: skip
        self.strategy.on_order(self._done)  # type: ignore[arg-type]
        return coid


def callback_ceiling(root: Path) -> tuple[int, float, int]:
    """The two-MA strategy's ``on_trade`` in a plain loop over the trades of ``root`` (see the
    module docstring). Returns (trades, seconds, fills)."""
    prices, sizes, sides, times = trade_rows(root)
    ctx = InstantFills(TickStore(root).instrument(TickStore(root).instrument_ids()[0]))
    strategy = load_strategy_class(STRATEGY)(ctx, PARAMS)  # type: ignore[arg-type]
    ctx.strategy = strategy
    strategy.on_start()
    on_trade = strategy.on_trade
    started = time.perf_counter()
    for price, size, side, ts in zip(prices, sizes, sides, times, strict=True):
        ctx.price = price
        on_trade(0, price, size, side, ts)
    return len(prices), time.perf_counter() - started, ctx.fills


def backtest(
    root: Path, results: Path, strategy: Path = STRATEGY, hot_loop: bool = True
) -> dict[str, object]:
    request = BacktestRequest(
        strategy_file=str(strategy), data_dir=str(root), results_dir=str(results),
        params=PARAMS if strategy == STRATEGY else {},
    )  # fmt: skip
    started = time.perf_counter()
    result = run_backtest(request, Settings(), hot_loop=hot_loop)
    wall = time.perf_counter() - started
    s = result.summary
    return {"ticks": s.ticks, "wall": wall, "fills": s.fills, "orders": s.orders,
            "trades": s.trade_stats.trades, "batches": s.batches}  # fmt: skip


def child(root: Path, strategy: Path, hot_loop: bool) -> None:
    """Run one backtest and print its figures and this process's peak RSS (JSON)."""
    with tempfile.TemporaryDirectory() as results:
        figures = backtest(root, Path(results), strategy, hot_loop)
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


def peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` (Linux): ``ru_maxrss`` would carry over the parent's
    peak across fork and exec, and the parent holds the dataset's prices."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_run(
    root: Path, strategy: Path = STRATEGY, hot_loop: bool = True, pure: bool = False
) -> dict[str, float]:
    """One backtest in a child process (for its own peak RSS); ``hot_loop=False``: every batch
    through ``TickPipeline.process_batch`` (engine.backtest.hot_loop skipped); ``pure``: the
    pure-Python lane of the hot loop, not the compiled one."""
    general = [] if hot_loop else ["--general-path"]
    env = dict(os.environ)
    env.pop("STOM_PURE_PYTHON", None)
    if pure:
        env["STOM_PURE_PYTHON"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root), "--strategy", str(strategy), *general],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def real_shaped(trades: int, rounds: int) -> None:
    """The real-shaped figures (see the module docstring), measured ``rounds`` times in turn
    (bare loop, ceiling, each backtest, then again): each figure is printed as the median of its
    rounds, each ratio as the median of the ratios within a round, so that a machine whose speed
    drifts between rounds moves the figures but not the ratios."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ticks"
        started = time.perf_counter()
        report = write_real_shaped(root, trades_per_day=trades)
        print(f"dataset (real-shaped): {report.trades:,} trades, {report.events:,} events, "
              f"{report.batches:,} batches ({report.instrument_id}, one day) written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        prices = trade_prices(root)
        runs = (("two-MA with TP/SL", STRATEGY, True, False), ("no-op", NOOP, True, False),
                ("two-MA, Python lane", STRATEGY, True, True),
                ("no-op, Python lane", NOOP, True, True),
                ("two-MA, general path", STRATEGY, False, False),
                ("resting limit orders", LIMITS, True, False))  # fmt: skip
        bares: list[float] = []
        ceilings: list[float] = []
        backtests: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in runs}
        for _ in range(rounds):
            started = time.perf_counter()
            trips = bare_two_ma(
                prices, int(PARAMS["fast"]), int(PARAMS["slow"]),
                int(PARAMS["take_profit_bp"]), int(PARAMS["stop_loss_bp"]),
            )  # fmt: skip
            bares.append(len(prices) / (time.perf_counter() - started))
            count, seconds, fills = callback_ceiling(root)
            ceilings.append(count / seconds)
            for name, strategy, hot_loop, pure in runs:
                backtests[name].append(memory_run(root, strategy, hot_loop, pure))
        bare = median(bares)
        print(f"bare pure-Python two-MA loop: {bare:,.0f} trades/s, median of {rounds} "
              f"({min(bares):,.0f} to {max(bares):,.0f}; {trips} round trips)")  # fmt: skip
        ratio = median([c / b for c, b in zip(ceilings, bares, strict=True)])
        print(f"callback ceiling (the two-MA strategy's own on_trade in a plain loop, instant "
              f"fills): {median(ceilings):,.0f} trades/s  ratio to the bare loop {ratio:.3f}  "
              f"({fills // 2} round trips)")  # fmt: skip
        for name, *_ in runs:
            measured = backtests[name]
            rates = [report.trades / run["wall"] for run in measured]
            ratio = median([r / b for r, b in zip(rates, bares, strict=True)])
            last = measured[-1]
            wall = median([run["wall"] for run in measured])
            print(f"backtest, {name + ':':<22} {median(rates):>11,.0f} trades/s "
                  f"{last['ticks'] / wall:>11,.0f} events/s  ratio to the bare loop "
                  f"{ratio:.3f}  peak RSS {max(run['peak_rss_mb'] for run in measured):.0f} MB  "
                  f"({wall:.1f} s, {last['batches']:,} batches, {last['orders']} orders, "
                  f"{last['fills']} fills)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("real", "batched"), default="real")
    parser.add_argument("--trades", type=int, default=2_000_000,
                        help="trades in the real-shaped day")  # fmt: skip
    parser.add_argument("--ticks", type=int, default=2_000_000,
                        help="events in the batched dataset")  # fmt: skip
    parser.add_argument("--days", type=int, default=2, help="days the events are split over")
    parser.add_argument("--memory-base", type=int, default=400_000,
                        help="events per day for the memory check (1 day vs 10 days)")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rounds", type=int, default=3,
                        help="real shape: rounds of measurements (medians printed)")  # fmt: skip
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--strategy", type=Path, default=STRATEGY, help=argparse.SUPPRESS)
    parser.add_argument("--general-path", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.strategy, not args.general_path)
        return
    lane = "built" if COMPILED_LANE is not None else "not built: the pure-Python lane runs"
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
          "(a backtest runs on one, reading its next chunk on another); "
          f"the hot loop's compiled lane: {lane}")  # fmt: skip
    if args.shape == "real":
        real_shaped(args.trades, max(1, args.rounds))
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ticks"
        started = time.perf_counter()
        rows = make_dataset(root, args.ticks, args.days)
        print(f"dataset: {rows:,} events ({', '.join(SYMBOLS)}, {args.days} days) written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        events, loop_wall = pure_loop(root)
        figures = backtest(root, Path(folder) / "results")
        loop_rate = events / loop_wall
        rate = figures["ticks"] / figures["wall"]  # type: ignore[operator]
        print(f"pure-Python loop over the replay: {events:,} events in {loop_wall:.2f} s = "
              f"{loop_rate:,.0f} ticks/s")  # fmt: skip
        print(f"backtest, full path:              {figures['ticks']:,} events in "
              f"{figures['wall']:.2f} s = {rate:,.0f} ticks/s "
              f"({figures['batches']:,} batches, {figures['orders']} orders, "
              f"{figures['fills']} fills, {figures['trades']} round trips)")  # fmt: skip
        print(f"ratio backtest / pure loop: {rate / loop_rate:.2f} (target: >= 1,000,000 ticks/s)")
    if args.skip_memory:
        return
    for days in (1, 10):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "ticks"
            rows = make_dataset(root, args.memory_base * days, days)
            run = memory_run(root)
            rate = run["ticks"] / run["wall"]
            print(f"memory: {days:>2} day(s), {rows:>11,} events: peak RSS "
                  f"{run['peak_rss_mb']:.0f} MB ({rate:,.0f} ticks/s)")  # fmt: skip


if __name__ == "__main__":
    main()
