"""The paper fill model and the signal state machine, compiled: one parameter set per call.

What a backtest does with a strategy's market orders (:mod:`engine.backtest.run`,
:mod:`engine.paper`), restated over arrays:

* an order decided during batch ``b`` is sent at ``ts_init[b]`` and falls due
  ``order_latency_ns`` later, at ``D``; it executes against the book after the last batch with
  ``ts_init <= D`` (the replay cuts its source there), and only if some batch comes at or
  after ``D`` (the run ends otherwise, the order still on its way);
* a market order takes the opposite side's best level, at most its *effective* size: the
  displayed size less what earlier paper fills consumed there (``ConsumedLiquidity``: a
  record per level, reconciled with the level's later book events, forgotten when it empties,
  when the level goes or when the book is cleared);
* its fill (time ``D``) reaches the strategy in the pump after that batch: trades of batches
  with ``ts_init > D`` see the new position and a free strategy; until then it is busy.

What it does not model it reports instead of imitating (``status``): an order that would walk
past the best level (or meet an empty side), more consumed-liquidity records than it keeps.
Fees, risk and metrics are applied to its orders afterwards (:mod:`engine.optimize.vector_path`).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL
from engine.optimize.vector_signals import BoolArray, IntArray

OK = 0
EMPTY_SIDE = 1
"""A market order met an empty side: the model would expire it."""
PAST_TOP = 2
"""A market order is larger than the best level's effective size: the model would walk on."""
RECORDS_FULL = 3
"""More consumed-liquidity records alive than :data:`MAX_RECORDS`."""
MAX_RECORDS = 32

STATUS_TEXT = {
    EMPTY_SIDE: "a market order would meet an empty side of the book (the model expires it)",
    PAST_TOP: "a market order would walk past the best level of the book",
    RECORDS_FULL: f"more than {MAX_RECORDS} consumed-liquidity records at once",
}

# Order columns (one row per order, in decision order).
O_BATCH = 0
"""Batch of the deciding trade (its ``ts_init`` is the send time)."""
O_TRADE = 1
O_SIDE = 2
"""0 buy, 1 sell."""
O_QUANTITY = 3
O_DUE = 4
O_PRICE = 5
"""Fill price (0: never executed)."""
O_BOOK = 6
"""Batch whose book it executed against (-1: never)."""
O_COLUMNS = 7


@numba.njit(cache=True)
def simulate(
    trade_batch: IntArray,
    trade_price: IntArray,
    trade_ts: IntArray,
    batch_ts: IntArray,
    batch_row_end: IntArray,
    bid: IntArray,
    bid_size: IntArray,
    ask: IntArray,
    ask_size: IntArray,
    row_kind: npt.NDArray[np.int8],
    row_side: npt.NDArray[np.int8],
    row_price: IntArray,
    row_size: IntArray,
    entries: BoolArray,
    exits: BoolArray,
    ready: BoolArray,
    quantity: IntArray,
    take_profit_bps: float,
    stop_loss_bps: float,
    max_hold_ns: int,
    cooldown_ns: int,
    latency_ns: int,
    orders: IntArray,
) -> tuple[int, int, int]:
    """Play one parameter set; returns (orders written, status, trade index of the status).

    ``orders`` (``len(trades) + 1`` rows of :data:`O_COLUMNS`) receives the orders. A
    negative ``take_profit_bps`` or ``stop_loss_bps`` means none.
    """
    # Consumed-liquidity records: side, price, consumed, displayed.
    rec_side = np.zeros(MAX_RECORDS, np.int64)
    rec_price = np.zeros(MAX_RECORDS, np.int64)
    rec_consumed = np.zeros(MAX_RECORDS, np.int64)
    rec_displayed = np.zeros(MAX_RECORDS, np.int64)
    alive = 0  # records in use: rows 0 .. alive - 1 (a forgotten one is replaced by the last)
    scanned = 0  # rows of the replay already reconciled with the records
    last_ts = batch_ts[len(batch_ts) - 1]

    position = 0
    entry_price = 0
    entry_ts = 0
    resume_at = 0
    busy = False
    due = 0
    pending = -1  # the working order's row
    count = 0
    long_tp = 10_000.0 + take_profit_bps
    long_sl = 10_000.0 - stop_loss_bps
    trades = len(trade_batch)
    for k in range(trades + 1):
        # Settle the working order once a batch after its due time is reached (or at the end).
        if busy and (k == trades or batch_ts[trade_batch[k]] > due):
            if due > last_ts:
                break  # the run ends with the order on its way: nothing more happens
            book = np.searchsorted(batch_ts, due, side="right") - 1
            end = batch_row_end[book]
            if alive:
                while scanned < end:
                    kind = row_kind[scanned]
                    if kind == BOOK_CLEAR:
                        alive = 0
                        scanned = end
                        break
                    if kind == BOOK_LEVEL:
                        for r in range(alive):
                            if (
                                rec_side[r] == row_side[scanned]
                                and rec_price[r] == row_price[scanned]
                            ):
                                if _update(r, row_size[scanned], rec_consumed, rec_displayed):
                                    alive -= 1
                                    _move(
                                        alive, r, rec_side, rec_price, rec_consumed, rec_displayed
                                    )
                                break
                    scanned += 1
            scanned = end
            is_buy = orders[pending, O_SIDE] == 0
            if is_buy:
                side, price, displayed = ASK, ask[book], ask_size[book]
            else:
                side, price, displayed = BID, bid[book], bid_size[book]
            if price <= 0:
                return count, EMPTY_SIDE, orders[pending, O_TRADE]
            effective = displayed
            slot = -1
            for r in range(alive):
                if rec_side[r] == side and rec_price[r] == price:
                    if rec_displayed[r] != displayed and _update(
                        r, displayed, rec_consumed, rec_displayed
                    ):
                        alive -= 1
                        _move(alive, r, rec_side, rec_price, rec_consumed, rec_displayed)
                    else:
                        slot = r
                        effective = displayed - rec_consumed[r]
                    break
            size = orders[pending, O_QUANTITY]
            if size > effective:
                return count, PAST_TOP, orders[pending, O_TRADE]
            if slot >= 0:
                rec_consumed[slot] += size
            else:
                if alive == MAX_RECORDS:
                    return count, RECORDS_FULL, orders[pending, O_TRADE]
                rec_side[alive] = side
                rec_price[alive] = price
                rec_consumed[alive] = size
                rec_displayed[alive] = displayed
                alive += 1
            orders[pending, O_PRICE] = price
            orders[pending, O_BOOK] = book
            if is_buy:
                position += size
                entry_price = price
                entry_ts = due
            else:
                position -= size
            busy = False
        if k == trades:
            break
        if busy or not ready[k]:
            continue
        p = trade_price[k]
        ts = trade_ts[k]
        if position > 0:
            scaled = p * 10_000
            if (
                exits[k]
                or (take_profit_bps >= 0.0 and scaled >= entry_price * long_tp)
                or (stop_loss_bps >= 0.0 and scaled <= entry_price * long_sl)
                or (max_hold_ns > 0 and ts - entry_ts >= max_hold_ns)
            ):
                size = position
                resume_at = ts + cooldown_ns
                side_code = 1
            else:
                continue
        elif entries[k] and quantity[k] > 0 and ts >= resume_at:
            size = quantity[k]
            side_code = 0
        else:
            continue
        batch = trade_batch[k]
        orders[count, O_BATCH] = batch
        orders[count, O_TRADE] = k
        orders[count, O_SIDE] = side_code
        orders[count, O_QUANTITY] = size
        due = batch_ts[batch] + latency_ns
        orders[count, O_DUE] = due
        orders[count, O_PRICE] = 0
        orders[count, O_BOOK] = -1
        pending = count
        count += 1
        busy = True
    return count, OK, -1


@numba.njit(cache=True)
def _update(r: int, size: int, consumed: IntArray, displayed: IntArray) -> bool:
    """``engine.paper.liquidity.update_level`` on record ``r``; True when it is forgotten."""
    if size == 0:
        return True
    decrease = displayed[r] - size
    if decrease > 0:
        left = consumed[r] - decrease
        if left <= 0:
            return True
        consumed[r] = left
    displayed[r] = size
    return False


@numba.njit(cache=True)
def _move(
    last: int,
    r: int,
    side: IntArray,
    price: IntArray,
    consumed: IntArray,
    displayed: IntArray,
) -> None:
    """Forget record ``r`` by moving record ``last`` into its place."""
    side[r] = side[last]
    price[r] = price[last]
    consumed[r] = consumed[last]
    displayed[r] = displayed[last]
