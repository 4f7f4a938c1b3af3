"""The backtest's hot loop: market batches while nothing waits on the paper exchange.

Most batches of a real feed hold one event (a trade, one book level) or a few (a quote that
moved both sides). While the paper exchange has nothing queued or resting (``has_work`` false,
nothing in its outbox) and the strategy stage wants only its ``on_trade`` handlers
(:meth:`~engine.strategy.runner.StrategyRunner.quiet_trade_table`), the whole of
:meth:`TickPipeline.process_batch <engine.pipeline.TickPipeline.process_batch>` for a batch is:
move the clock, :meth:`MarketState.apply_event <engine.market_state.MarketState.apply_event>`
per event, the handlers of each trade under the watchdog, and :meth:`Oms.pump
<engine.oms.oms.Oms.pump>` when it has something to do (an event to take in, the periodic risk
check falling due). :func:`run_quiet` does exactly that, in that order, reading the replay's
columns row by row: no batch object, no generator, no call per stage. At the first batch it
cannot do that way (an order on its way, a strategy added or failed) it hands back to the
caller, which runs that batch through ``process_batch``.

``tests/test_hot_loop.py`` runs backtests through this loop and through ``process_batch``
alone, and compares every fill, order, equity point and the books at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.backtest.replay import ReplayChunk
from engine.domain.market_data import TRADE
from engine.paper.exchange import PaperExchange
from engine.pipeline import TickPipeline
from engine.strategy.guard import WATCHDOG
from engine.strategy.runner import StrategyRunner


def run_quiet(
    pipeline: TickPipeline, runner: StrategyRunner, chunk: ReplayChunk, j: int, stop_ns: int
) -> int:
    """Process batches ``j``, ``j + 1``, … of ``chunk`` while they are quiet (see the module
    docstring); return the index of the first batch not processed.

    It also returns right after a batch received at or after ``stop_ns`` (the caller samples
    equity there), so the batches processed are ``j`` to the index returned, exclusive.
    """
    exchange = pipeline.exchange
    if not isinstance(exchange, PaperExchange) or exchange.has_work or exchange.outbox:
        return j
    market = pipeline.market
    table = runner.quiet_trade_table()
    if table is None or market.guarded:
        return j
    generation = runner.generation
    clock = pipeline.time
    oms = pipeline.oms
    outbox = exchange.outbox
    apply_event = market.apply_event
    pump = oms.pump
    fail = runner.fail
    guard = WATCHDOG
    starts, ends, inits = chunk.starts, chunk.ends, chunk.inits
    kinds, instruments, sides = chunk.kind, chunk.instrument, chunk.side
    prices, sizes, times = chunk.price, chunk.size, chunk.ts_event
    count = len(starts)
    while j < count:
        a = starts[j]
        b = ends[j]
        now = inits[j]
        if now > clock.ns:  # noqa: PLR1730 (a branch beats max() per batch)
            clock.ns = now
        j += 1
        if b - a == 1:
            # One event (most batches of a real feed): no range, no list.
            kind = kinds[a]
            apply_event(instruments[a], kind, sides[a], prices[a], sizes[a], times[a], now)
            rows: Sequence[int] = (a,) if kind == TRADE else ()
        else:
            # Every event first, then the handlers of each trade in order (process_batch's
            # order: the book is whole when a strategy hears of a trade in the same batch).
            for row in range(a, b):
                apply_event(
                    instruments[row], kinds[row], sides[row], prices[row], sizes[row],
                    times[row], now,
                )  # fmt: skip
            rows = [row for row in range(a, b) if kinds[row] == TRADE]
        # (no crossed book to drop above: nothing is guarded, see the start)
        called = False
        for row in rows:
            index = instruments[row]
            handlers = table[index]
            if handlers is None:
                continue
            called = True
            price, size, side, ts = prices[row], sizes[row], sides[row], times[row]
            for entry, handler in handlers:
                # As StrategyRunner.dispatch: who runs, which call, done; the barrier.
                try:
                    guard.owner = entry
                    guard.calls += 1
                    handler(index, price, size, side, ts)
                    guard.owner = None
                except BaseException as exc:
                    guard.owner = None
                    fail(entry, "on_trade", exc)
        if called and (exchange.has_work or outbox or runner.generation != generation):
            # An order went out (or was refused, or a strategy failed): the pump as
            # process_batch runs it, then the general path from the next batch on.
            pump(now)
            return j
        if outbox or now >= oms.next_check_ns:
            pump(now)
            if exchange.has_work or runner.generation != generation:
                return j  # a protective exit, or a strategy's reply to a fill
        if now >= stop_ns:
            return j
    return j
