"""The backtest's hot loop: market batches while nothing is on its way to the paper exchange.

Most batches of a real feed hold one event (a trade, one book level) or a few (a quote that
moved both sides). While the paper exchange has nothing queued or resting (``has_work`` false,
nothing in its outbox; for one instrument, orders may rest: see below) and the strategy stage
wants only its ``on_trade`` handlers
(:meth:`~engine.strategy.runner.StrategyRunner.quiet_trade_table`), the whole of
:meth:`TickPipeline.process_batch <engine.pipeline.TickPipeline.process_batch>` for a batch is:
move the clock, :meth:`MarketState.apply_event <engine.market_state.MarketState.apply_event>`
per event, the handlers of each trade under the watchdog, and :meth:`Oms.pump
<engine.oms.oms.Oms.pump>` when it has something to do (an event to take in, the periodic risk
check falling due). :func:`run_quiet` does exactly that, in that order, reading the replay's
columns row by row: no batch object, no generator, no call per stage. At the first batch it
cannot do that way (an order on its way, a strategy added or failed) it hands back to the
caller, which runs that batch through ``process_batch``.

Where a chunk holds one instrument's events (a backtest of one instrument, most), the loop is
:func:`_run_one_instrument`: the book and trade updates of ``apply_event`` written out on that
instrument's state, with what only a reader can tell apart (``ts_event``, ``ts_recv``,
``book_seq``, the best prices, the market's event count) kept in locals and written back before
anything else runs: a strategy's handler, the OMS pump, the return to the caller.

That lane also runs while orders rest on the instrument (``has_work`` true, nothing on its way:
``in_flight`` false). For each event it makes the tests :meth:`FillModel.on_batch
<engine.paper.fill_model.FillModel.on_batch>` makes before acting (a trade at or through a
resting price, a level at a resting order's price, at a price where paper fills consumed
liquidity, or reaching across to a resting order; a cleared book); a batch with such an event
goes to the paper exchange's ``on_batch`` whole, after the write-back and before the handlers,
as ``process_batch`` sends it. A batch with none would change nothing there. Fills hand back
through the pump, as an order sent does.

The one-instrument lane also comes compiled (:mod:`engine.backtest.compiled_lane`, built from
``compiled_lane.pyx`` where ``pip install`` finds a C compiler): the same loop over the chunk's
numpy columns, so a quiet chunk is never turned into Python lists. :data:`COMPILED_LANE` is it,
or None where it was not built, was built from an older ``compiled_lane.pyx`` than the one
beside it, or ``STOM_PURE_PYTHON`` is set; then :func:`_run_one_instrument` runs.

``tests/test_hot_loop.py`` runs backtests through this loop (both lanes) and through
``process_batch`` alone, and compares every fill, order, equity point and the books at the end,
and what a strategy that reads the market state at every trade saw.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.backtest.replay import ReplayChunk
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.oms.oms import CHECK_INTERVAL_NS
from engine.paper.exchange import PaperExchange
from engine.pipeline import TickPipeline
from engine.strategy.guard import WATCHDOG
from engine.strategy.runner import StrategyRunner

log = logging.getLogger("stom.backtest")

Lane = Callable[..., int]
"""A one-instrument lane: ``(pipeline, runner, chunk, j, stop_ns, table) -> next batch``."""


def compiled_lane() -> Lane | None:
    """The compiled one-instrument lane, or None (see the module docstring), with the reason
    logged when a build is there but not used."""
    if os.environ.get("STOM_PURE_PYTHON"):
        return None
    try:
        from engine.backtest import compiled_lane as module
    except ImportError:
        return None  # not built (no compiler at install): the pure-Python lane
    source = Path(__file__).with_name("compiled_lane.pyx")
    if source.exists():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if digest != module.SOURCE_SHA256:
            log.warning(
                "%s changed since it was compiled: the backtest runs the pure-Python lane until "
                "`pip install -e .` builds it again", source,
            )  # fmt: skip
            return None
    lane: Lane = module.run_one_instrument
    return lane


COMPILED_LANE: Lane | None = compiled_lane()
"""What :func:`run_quiet` runs for a chunk of one instrument when set (tests swap it)."""


def run_quiet(
    pipeline: TickPipeline, runner: StrategyRunner, chunk: ReplayChunk, j: int, stop_ns: int
) -> int:
    """Process batches ``j``, ``j + 1``, … of ``chunk`` while they are quiet (see the module
    docstring); return the index of the first batch not processed.

    It also returns right after a batch received at or after ``stop_ns`` (the caller samples
    equity there), so the batches processed are ``j`` to the index returned, exclusive.
    """
    exchange = pipeline.exchange
    if not isinstance(exchange, PaperExchange) or exchange.in_flight or exchange.outbox:
        return j
    market = pipeline.market
    table = runner.quiet_trade_table()
    if table is None or market.guarded:
        return j
    sole = chunk.sole_instrument
    if sole >= 0 and not market.track_bars and exchange.rests_only_on(sole):
        lane = COMPILED_LANE or _run_one_instrument
        j = lane(pipeline, runner, chunk, j, stop_ns, table)
        if pipeline.oms.deferred is not None:
            pipeline.oms.settle()  # (a check the lane put off, before anything reads risk)
        return j
    if exchange.has_work:
        return j  # (orders rest: only the one-instrument lane runs the fill model)
    generation = runner.generation
    clock = pipeline.time
    oms = pipeline.oms
    outbox = exchange.outbox
    apply_event = market.apply_event
    pump = oms.pump
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
        called = bool(rows) and _dispatch_rows(runner, table, chunk, rows)
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


def _run_one_instrument(
    pipeline: TickPipeline,
    runner: StrategyRunner,
    chunk: ReplayChunk,
    j: int,
    stop_ns: int,
    table: Sequence[Sequence[tuple[Any, Callable[..., None]]] | None],
) -> int:
    """:func:`run_quiet` for a chunk of one instrument's events (see the module docstring);
    the caller has checked what ``run_quiet`` checks first, and that bars are not tracked."""
    exchange = pipeline.exchange
    assert isinstance(exchange, PaperExchange)
    market = pipeline.market
    index = chunk.sole_instrument
    state = market.at(index)
    generation = runner.generation
    clock = pipeline.time
    oms = pipeline.oms
    outbox = exchange.outbox
    pump, check = oms.pump, oms.check
    fail = runner.fail
    guard = WATCHDOG
    starts, ends, inits = chunk.starts, chunk.ends, chunk.inits
    kinds, sides = chunk.kind, chunk.side
    prices, sizes, times = chunk.price, chunk.size, chunk.ts_event
    bids, asks = state.bids, state.asks
    best_bid, best_ask = state.best_bid, state.best_ask
    # Orders resting on this instrument (nothing on its way: see run_quiet). An event the fill
    # model would pass over (FillModel.on_batch's tests, made here) changes nothing there; a
    # batch with one it would not goes to the exchange whole, as process_batch sends it.
    resting = exchange.resting_on(index)
    touched = False
    on_batch, batch = exchange.on_batch, MarketBatch()
    ring_ts, ring_price, ring_size, ring_side = (
        state.ring_ts, state.ring_price, state.ring_size, state.ring_side,
    )  # fmt: skip
    ring = len(ring_ts)
    count = len(starts)
    synced = starts[j] if j < count else 0  # the first row not yet counted in the state
    seq = 0  # book events not yet added to book_seq
    row = synced
    next_check = oms.next_check_ns
    # Before this, a batch with no trade needs nothing but its events (no check, no sample).
    until = min(next_check, stop_ns)
    # (the outbox is empty here, and stays so but through a handler or the pump: see below)
    # The batch's first trade (most batches: the only one), its row -1 when there is none.
    trade = t_price = t_size = t_side = t_ts = -1
    more: list[int] = []  # the rows of the batch's further trades
    calling: Sequence[tuple[Any, Callable[..., None]]] = ()  # the first trade's handlers
    while j < count:
        a = row
        b = ends[j]
        now = inits[j]
        j += 1
        while row < b:
            kind = kinds[row]
            if kind == BOOK_LEVEL:
                price = prices[row]
                size = sizes[row]
                if sides[row] == BID:
                    if size:
                        bids[price] = size
                        if price > best_bid:  # noqa: PLR1730
                            best_bid = price
                    elif bids.pop(price, None) is not None and price == best_bid:
                        best_bid = max(bids) if bids else 0
                    if resting is not None and not touched:
                        touched = (
                            (size and price >= resting.best_sell)
                            or price in resting.buys
                            or price in resting.consumed_bids
                        )
                else:
                    if size:
                        asks[price] = size
                        if price < best_ask or not best_ask:
                            best_ask = price
                    elif asks.pop(price, None) is not None and price == best_ask:
                        best_ask = min(asks) if asks else 0
                    if resting is not None and not touched:
                        touched = (
                            (size and price <= resting.best_buy)
                            or price in resting.sells
                            or price in resting.consumed_asks
                        )
                seq += 1
            elif kind == TRADE:
                price = prices[row]
                size = sizes[row]
                side = sides[row]
                ts = times[row]
                if resting is not None and not touched:
                    touched = (
                        price <= resting.best_buy if side == ASK else price >= resting.best_sell
                    )
                state.last_price = price
                state.last_trade_ns = ts
                state.volume += size
                state.turnover += price * size
                traded = state.trade_count
                slot = traded % ring
                ring_ts[slot] = ts
                ring_price[slot] = price
                ring_size[slot] = size
                ring_side[slot] = side
                state.trade_count = traded + 1
                if trade < 0:
                    trade, t_price, t_size, t_side, t_ts = row, price, size, side, ts
                else:
                    more.append(row)
            else:  # BOOK_CLEAR
                bids.clear()
                asks.clear()
                best_bid = best_ask = 0
                seq += 1
                touched = resting is not None
            row += 1
        if trade >= 0:
            handlers = table[index]  # (a failed strategy's row is replaced: read it each time)
            if handlers is None:
                trade = -1
                more.clear()
            else:
                calling = handlers
        if trade < 0 and now < until and j < count and not touched:
            continue
        # Write back what was kept in locals before anything else can read it (the clock too:
        # ts_init never steps back in a replay, so the newest batch's is the latest).
        if now > clock.ns:  # noqa: PLR1730
            clock.ns = now
        ts = times[b - 1]
        state.best_bid = best_bid
        state.best_ask = best_ask
        state.book_seq += seq
        seq = 0
        state.ts_event = ts
        state.ts_recv = now or ts
        market.events_total += b - synced
        market.last_event_ns = ts
        synced = b
        if touched:
            # The fill model's turn, before the handlers (process_batch's order).
            touched = False
            batch.clear()
            for at in range(a, b):
                batch.append(kinds[at], index, sides[at], prices[at], sizes[at], times[at])
            on_batch(batch)
            resting = exchange.resting_on(index)
            if outbox and trade < 0:
                pump(now)  # fills: on_fill and on_order, as process_batch's pump
                return j
        if trade >= 0:
            # As StrategyRunner.dispatch: who runs, which call, done; the barrier.
            for entry, handler in calling:
                try:
                    guard.owner = entry
                    guard.calls += 1
                    handler(index, t_price, t_size, t_side, t_ts)
                    guard.owner = None
                except BaseException as exc:
                    guard.owner = None
                    fail(entry, "on_trade", exc)
            trade = -1
            if more:  # (rare: a batch of several trades)
                _dispatch_rows(runner, table, chunk, more)
                more.clear()
            if exchange.in_flight or outbox or runner.generation != generation:
                pump(now)  # an order went out (or a strategy failed, or fills): as process_batch
                return j
        if now >= next_check:
            held = oms.idle_marks.get(index)
            if held is not None and best_bid and best_ask:
                mark = (best_bid + best_ask) // 2  # as Oms.mark_price
            elif held is not None:
                mark = state.last_price
            checking = True
            if now >= oms.idle_until_ns:
                pass  # (a check is needed: not idle, or the day rolled)
            elif held is None or held == mark:
                # The check would only move on (Oms.idle_until_ns; the mark as Oms.mark_price
                # has it, from the book just written back): what pump does then.
                next_check = oms.next_check_ns = now + CHECK_INTERVAL_NS
                checking = False
            else:
                band = oms.idle_bands.get(index)
                if band is not None and band[0] <= mark <= band[1]:
                    # It would change only the latest equity: put off (Oms.settle records it).
                    oms.defer_check(now, index, mark)
                    next_check = oms.next_check_ns
                    checking = False
            if checking:
                check(now)  # (pump, with nothing on its way to the venue or in the outbox)
                next_check = oms.next_check_ns
                if exchange.in_flight or outbox or runner.generation != generation:
                    return j  # a protective exit, or a strategy's reply to a fill
            until = min(next_check, stop_ns)
        if now >= stop_ns:
            return j
    return j


def _dispatch_rows(
    runner: StrategyRunner,
    table: Sequence[Sequence[tuple[Any, Callable[..., None]]] | None],
    chunk: ReplayChunk,
    rows: Sequence[int],
) -> bool:
    """The ``on_trade`` handlers of trades ``rows`` of ``chunk``, in order, as
    :meth:`StrategyRunner.dispatch` calls them (the handlers read again for each: a strategy
    that failed is out of the next). True when some handler was called."""
    guard = WATCHDOG
    called = False
    for row in rows:
        index = chunk.instrument[row]
        handlers = table[index]
        if handlers is None:
            continue
        called = True
        price, size = chunk.price[row], chunk.size[row]
        side, ts = chunk.side[row], chunk.ts_event[row]
        for entry, handler in handlers:
            # Who runs, which call, done; the barrier (engine.strategy.guard).
            try:
                guard.owner = entry
                guard.calls += 1
                handler(index, price, size, side, ts)
                guard.owner = None
            except BaseException as exc:
                guard.owner = None
                runner.fail(entry, "on_trade", exc)
    return called
