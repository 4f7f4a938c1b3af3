# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""The one-instrument lane of the backtest's hot loop, compiled (the optional accelerator).

The same loop as :func:`engine.backtest.hot_loop._run_one_instrument`, line for line, reading
the replay chunk's numpy columns (:attr:`ReplayChunk.kind_array` and the rest) in C instead of
its Python lists, so a chunk that stays quiet is never turned into lists at all. What a reader
can see is the same: the same writes to the instrument's state before every handler, check
and return, the same handler calls with the same Python ints, the same order.
``tests/test_hot_loop.py`` runs every backtest through this lane, the pure-Python one and the
general path, and compares them. Built by ``setup.py`` where a C compiler is found; without
one, ``pip install`` still succeeds and the pure-Python lane runs.
"""

from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

from types import MemberDescriptorType

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.market_state import InstrumentState, MarketState
from engine.oms.oms import CHECK_INTERVAL_NS
from engine.pipeline import BatchClock
from engine.strategy.guard import WATCHDOG, Watchdog

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    int T_OBJECT_EX
    int READONLY

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

cdef extern from *:
    """
    #ifndef STOM_LANE_SOURCE
    #define STOM_LANE_SOURCE ""
    #endif
    """
    const char* STOM_LANE_SOURCE

SOURCE_SHA256 = STOM_LANE_SOURCE.decode()
"""The SHA-256 of this file as built (``setup.py`` passes it): ``hot_loop`` ignores a build
older than the source beside it."""

cdef long long C_BID = BID
cdef long long C_ASK = ASK
cdef long long C_BOOK_LEVEL = BOOK_LEVEL
cdef long long C_TRADE = TRADE
cdef long long C_INTERVAL = CHECK_INTERVAL_NS


# --- slots ------------------------------------------------------------------------------------
# InstrumentState, BatchClock, MarketState and Watchdog keep their fields in __slots__: a field
# is a pointer at a fixed offset in the object, which setattr finds through the type's member
# descriptor each time.
# The lane reads the offsets once from those descriptors (checked to be plain object slots)
# and writes the pointers itself, with the references counted as setattr counts them.

cdef Py_ssize_t _offset(type cls, str name) except -1:
    descriptor = cls.__dict__.get(name)
    if type(descriptor) is not MemberDescriptorType:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    cdef PyMemberDef* member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
    if member.type != T_OBJECT_EX or member.flags & READONLY:
        raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
    return member.offset


cdef inline object _get(object obj, Py_ssize_t offset):
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
    if value is NULL:
        raise AttributeError(offset)
    return <object>value


cdef inline void _set(object obj, Py_ssize_t offset, object value):
    cdef PyObject** field = <PyObject**>((<char*><PyObject*>obj) + offset)
    cdef PyObject* old = field[0]
    Py_INCREF(value)
    field[0] = <PyObject*>value
    Py_XDECREF(old)


cdef Py_ssize_t LAST_PRICE = _offset(InstrumentState, "last_price")
cdef Py_ssize_t LAST_TRADE_NS = _offset(InstrumentState, "last_trade_ns")
cdef Py_ssize_t VOLUME = _offset(InstrumentState, "volume")
cdef Py_ssize_t TURNOVER = _offset(InstrumentState, "turnover")
cdef Py_ssize_t TRADE_COUNT = _offset(InstrumentState, "trade_count")
cdef Py_ssize_t BEST_BID = _offset(InstrumentState, "best_bid")
cdef Py_ssize_t BEST_ASK = _offset(InstrumentState, "best_ask")
cdef Py_ssize_t BOOK_SEQ = _offset(InstrumentState, "book_seq")
cdef Py_ssize_t TS_EVENT = _offset(InstrumentState, "ts_event")
cdef Py_ssize_t TS_RECV = _offset(InstrumentState, "ts_recv")
cdef Py_ssize_t CLOCK_NS = _offset(BatchClock, "ns")
cdef Py_ssize_t EVENTS_TOTAL = _offset(MarketState, "events_total")
cdef Py_ssize_t LAST_EVENT_NS = _offset(MarketState, "last_event_ns")
cdef Py_ssize_t OWNER = _offset(Watchdog, "owner")
cdef Py_ssize_t CALLS = _offset(Watchdog, "calls")


def run_one_instrument(pipeline, runner, chunk, Py_ssize_t j, long long stop_ns, list table):
    """:func:`engine.backtest.hot_loop._run_one_instrument` over the chunk's numpy columns;
    returns the index of the first batch not processed."""
    exchange = pipeline.exchange
    market = pipeline.market
    cdef Py_ssize_t index = chunk.sole_instrument
    state = market.at(index)
    clock = pipeline.time
    guard = WATCHDOG
    if (
        type(state) is not InstrumentState or type(clock) is not BatchClock
        or type(market) is not MarketState or type(guard) is not Watchdog
    ):
        # (another class: its fields may not be these slots) the pure-Python lane
        from engine.backtest.hot_loop import _run_one_instrument
        return _run_one_instrument(pipeline, runner, chunk, j, stop_ns, table)
    generation = runner.generation
    oms = pipeline.oms
    cdef list outbox = exchange.outbox
    pump, check = oms.pump, oms.check
    fail = runner.fail
    cdef const long long[::1] starts = chunk.starts_array
    cdef const long long[::1] ends = chunk.ends_array
    cdef const long long[::1] inits = chunk.inits_array
    cdef const signed char[::1] kinds = chunk.kind_array  # (Int8 in the tick store)
    cdef const signed char[::1] sides = chunk.side_array
    cdef const long long[::1] prices = chunk.price_array
    cdef const long long[::1] sizes = chunk.size_array
    cdef const long long[::1] times = chunk.ts_event_array
    cdef dict bids = state.bids
    cdef dict asks = state.asks
    # Orders resting on this instrument (nothing on its way: see run_quiet), as the pure lane.
    resting = exchange.resting_on(index)
    cdef bint touched = False
    cdef long long best_buy = 0, best_sell = 0
    cdef dict r_buys = None, r_sells = None, r_bids = None, r_asks = None
    if resting is not None:
        best_buy, best_sell = resting.best_buy, resting.best_sell
        r_buys, r_sells = resting.buys, resting.sells
        r_bids, r_asks = resting.consumed_bids, resting.consumed_asks
    on_batch = exchange.on_batch
    batch = MarketBatch()
    cdef Py_ssize_t a, at
    cdef long long best_bid = state.best_bid
    cdef long long best_ask = state.best_ask
    cdef long long written_bid = best_bid, written_ask = best_ask  # as the state holds them
    cdef list ring_ts = state.ring_ts
    cdef list ring_price = state.ring_price
    cdef list ring_size = state.ring_size
    cdef list ring_side = state.ring_side
    cdef Py_ssize_t ring = len(ring_ts)
    cdef Py_ssize_t count = starts.shape[0]
    cdef Py_ssize_t synced = starts[j] if j < count else 0  # the first row not yet counted
    cdef long long seq = 0  # book events not yet added to book_seq
    cdef Py_ssize_t row = synced
    cdef Py_ssize_t b = 0
    cdef Py_ssize_t trade = -1  # the batch's first trade's row (-1: none)
    cdef Py_ssize_t slot
    cdef long long next_check = oms.next_check_ns
    # Before this, a batch with no trade needs nothing but its events (no check, no sample).
    cdef long long until = next_check if next_check < stop_ns else stop_ns
    cdef long long now = 0
    cdef long long kind, price, size, ts
    cdef long long traded
    cdef list more = []  # the rows of the batch's further trades
    cdef object calling = ()
    cdef object p, s, sd, tso, handlers, held, mark, band, ts_object, now_object
    cdef bint checking
    t_price = t_size = t_side = t_ts = None
    while j < count:
        a = row
        b = ends[j]
        now = inits[j]
        j += 1
        while row < b:
            kind = kinds[row]
            if kind == C_BOOK_LEVEL:
                price = prices[row]
                size = sizes[row]
                if sides[row] == C_BID:
                    if size:
                        bids[price] = size
                        if price > best_bid:
                            best_bid = price
                    elif bids.pop(price, None) is not None and price == best_bid:
                        best_bid = max(bids) if bids else 0
                    if resting is not None and not touched:
                        touched = (
                            (size != 0 and price >= best_sell)
                            or price in r_buys
                            or price in r_bids
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
                            (size != 0 and price <= best_buy)
                            or price in r_sells
                            or price in r_asks
                        )
                seq += 1
            elif kind == C_TRADE:
                p = prices[row]
                s = sizes[row]
                sd = sides[row]
                tso = times[row]
                if resting is not None and not touched:
                    price = prices[row]
                    touched = price <= best_buy if sides[row] == C_ASK else price >= best_sell
                _set(state, LAST_PRICE, p)
                _set(state, LAST_TRADE_NS, tso)
                _set(state, VOLUME, _get(state, VOLUME) + s)
                _set(state, TURNOVER, _get(state, TURNOVER) + p * s)
                traded = _get(state, TRADE_COUNT)
                slot = traded % ring
                ring_ts[slot] = tso
                ring_price[slot] = p
                ring_size[slot] = s
                ring_side[slot] = sd
                _set(state, TRADE_COUNT, traded + 1)
                if trade < 0:
                    trade = row
                    t_price, t_size, t_side, t_ts = p, s, sd, tso
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
        # Write back what was kept in locals before anything else can read it.
        now_object = now  # (one Python int for the clock and ts_recv)
        if now > _get(clock, CLOCK_NS):
            _set(clock, CLOCK_NS, now_object)
        ts = times[b - 1]
        if best_bid != written_bid:  # (nothing but this lane writes the book meanwhile)
            _set(state, BEST_BID, best_bid)
            written_bid = best_bid
        if best_ask != written_ask:
            _set(state, BEST_ASK, best_ask)
            written_ask = best_ask
        if seq:
            _set(state, BOOK_SEQ, _get(state, BOOK_SEQ) + seq)
            seq = 0
        # (the batch's last row is its trade, most batches: the same Python int)
        ts_object = t_ts if trade == b - 1 else ts
        _set(state, TS_EVENT, ts_object)
        _set(state, TS_RECV, now_object if now else ts_object)
        _set(market, EVENTS_TOTAL, _get(market, EVENTS_TOTAL) + (b - synced))
        _set(market, LAST_EVENT_NS, ts_object)
        synced = b
        if touched:
            # The fill model's turn, before the handlers (process_batch's order).
            touched = False
            batch.clear()
            for at in range(a, b):
                batch.append(kinds[at], index, sides[at], prices[at], sizes[at], times[at])
            on_batch(batch)
            resting = exchange.resting_on(index)
            if resting is not None:
                best_buy, best_sell = resting.best_buy, resting.best_sell
                r_buys, r_sells = resting.buys, resting.sells
                r_bids, r_asks = resting.consumed_bids, resting.consumed_asks
            if outbox and trade < 0:
                pump(now)  # fills: on_fill and on_order, as process_batch's pump
                return j
        if trade >= 0:
            # As StrategyRunner.dispatch: who runs, which call, done; the barrier.
            for entry, handler in calling:
                try:
                    _set(guard, OWNER, entry)
                    _set(guard, CALLS, _get(guard, CALLS) + 1)
                    handler(index, t_price, t_size, t_side, t_ts)
                    _set(guard, OWNER, None)
                except BaseException as exc:
                    _set(guard, OWNER, None)
                    fail(entry, "on_trade", exc)
            trade = -1
            if more:  # (rare: a batch of several trades)
                _dispatch_rows(runner, table, index, prices, sizes, sides, times, more)
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
                # The check would only move on (Oms.idle_until_ns): what pump does then.
                next_check = now + C_INTERVAL
                oms.next_check_ns = next_check
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
            until = next_check if next_check < stop_ns else stop_ns
        if now >= stop_ns:
            return j
    return j


cdef _dispatch_rows(
    runner, table, Py_ssize_t index,
    const long long[::1] prices, const long long[::1] sizes,
    const signed char[::1] sides, const long long[::1] times, list rows,
):
    """``hot_loop._dispatch_rows`` for one instrument's further trades of a batch."""
    guard = WATCHDOG
    cdef Py_ssize_t row
    for row in rows:
        handlers = table[index]
        if handlers is None:
            continue
        price, size, side, ts = prices[row], sizes[row], sides[row], times[row]
        for entry, handler in handlers:
            try:
                guard.owner = entry
                guard.calls += 1
                handler(index, price, size, side, ts)
                guard.owner = None
            except BaseException as exc:
                guard.owner = None
                runner.fail(entry, "on_trade", exc)
