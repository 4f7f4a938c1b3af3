"""The recording as arrays for the vector path: built once per worker, shared by every trial.

The replay (:mod:`engine.backtest.replay`) hands the engine batches: the events of one
``ts_init``. The vector path needs, per batch, the top of the book after it (what a market order
due by then meets, what the strategy sees in ``on_trade``, the mark of an equity sample), and the
book-level events themselves (consumed liquidity is reconciled with them). The book is rebuilt
here with :class:`~engine.market_state.MarketState`'s rules, compiled (one pass per dataset).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from engine.backtest.replay import day_frames, plan_replay
from engine.backtest.time_range import parse_time_range
from engine.domain.instrument import Instrument
from engine.domain.market_data import BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.optimize.vector_signals import IntArray, TradeTape, VectorRefusal
from engine.storage.part_reading import scan_parts
from engine.storage.tick_store import TickStore

I8 = npt.NDArray[np.int8]
CACHE_VERSION = 1
CACHE_KEEP = 3
"""Tapes kept in the cache folder (the least recently used go first)."""
TRADE_FIELDS = ("price", "size", "side", "ts", "best_bid", "best_ask")


@dataclass(frozen=True, slots=True)
class MarketTape:
    """One instrument's replay as arrays (rows, batches, trades), see the module docstring."""

    instrument: Instrument
    row_kind: I8
    row_side: I8
    row_price: IntArray
    row_size: IntArray
    batch_ts: IntArray
    """Each batch's ``ts_init``, strictly increasing (checked)."""
    batch_row_end: IntArray
    """One past each batch's last row."""
    bid: IntArray
    bid_size: IntArray
    ask: IntArray
    ask_size: IntArray
    mark: IntArray
    """``Oms.mark_price`` after each batch (mid, else the last trade, else 0)."""
    trade_batch: IntArray
    trades: TradeTape

    @property
    def events(self) -> int:
        return len(self.row_kind)


def load_market_tape(
    store: TickStore,
    instrument_ids: list[str],
    start: str | None,
    end: str | None,
    tz: str = "UTC",
) -> MarketTape:
    """The replay of ``instrument_ids`` (one instrument) between ``start`` and ``end``, as
    :func:`~engine.backtest.run.run_backtest` plays it; VectorRefusal when it cannot be one."""
    if len(instrument_ids) != 1:
        raise VectorRefusal(
            f"the vector path runs one instrument; this run has {len(instrument_ids)}"
        )
    instrument = store.instrument(instrument_ids[0])
    window = parse_time_range(start, end, tz)
    plan = plan_replay(store, instrument_ids, [0], None, None, window)
    # Per row only what the tape keeps (kind, side, price, size); per batch its first row and
    # ts_init; per trade its ts_event. Each column is joined and its parts dropped in turn, so
    # the peak is the tape plus one column, not two copies of every row.
    columns: dict[str, list[np.ndarray[Any, Any]]] = {
        name: [] for name in ("kind", "side", "price", "size", "starts", "batch_ts", "trade_ts")
    }
    has_book = [False]
    rows = 0
    for day in plan.days:
        # A part file at a time where the day streams (as the backtest's replay does): only
        # the arrays grow with the day, not a whole day's frame and its sort beside them.
        for merged in day_frames(store, plan, day, has_book):
            if not merged.height:
                continue
            init = merged["ts_init"].to_numpy()
            # A chunk holds whole batches: its first row starts one.
            firsts = np.concatenate(([0], np.flatnonzero(init[1:] != init[:-1]) + 1))
            columns["starts"].append(firsts + rows)
            columns["batch_ts"].append(init[firsts].astype(np.int64))
            kind = merged["kind"].cast(pl.Int8).to_numpy().copy()
            columns["kind"].append(kind)
            columns["side"].append(merged["side"].cast(pl.Int8).to_numpy().copy())
            for name in ("price", "size"):
                columns[name].append(merged[name].cast(pl.Int64).to_numpy().copy())
            times = merged["ts_event"].cast(pl.Int64).to_numpy()
            columns["trade_ts"].append(times[kind == TRADE].copy())
            rows += merged.height
            del merged, init, times
    if not columns["kind"]:
        raise VectorRefusal("no recorded data in the run's window")

    def joined(name: str) -> Any:
        parts = columns.pop(name)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    starts = joined("starts")
    batch_ts = joined("batch_ts")
    if len(batch_ts) > 1 and not bool(np.all(batch_ts[1:] > batch_ts[:-1])):
        raise VectorRefusal("the recording's ts_init steps back: the replay order is not time")
    row_end = np.empty(len(starts), np.int64)
    row_end[:-1] = starts[1:]
    row_end[-1] = rows
    del starts
    kind, side = joined("kind"), joined("side")
    price, size = joined("price"), joined("size")
    bid, bid_size, ask, ask_size, last = _book_tops(kind, side, price, size, row_end)
    mark = np.where((bid > 0) & (ask > 0), (bid + ask) // 2, last)
    del last
    trade_rows = np.flatnonzero(kind == TRADE)
    trade_batch = np.searchsorted(row_end, trade_rows, side="right").astype(np.int64, copy=False)
    trades = TradeTape(
        instrument=instrument,
        price=price[trade_rows],
        size=size[trade_rows],
        side=side[trade_rows],
        ts=joined("trade_ts"),
        best_bid=bid[trade_batch],
        best_ask=ask[trade_batch],
    )
    return MarketTape(
        instrument=instrument,
        row_kind=kind,
        row_side=side,
        row_price=price,
        row_size=size,
        batch_ts=batch_ts,
        batch_row_end=row_end,
        bid=bid,
        bid_size=bid_size,
        ask=ask,
        ask_size=ask_size,
        mark=mark,
        trade_batch=trade_batch,
        trades=trades,
    )


def cached_market_tape(
    store: TickStore, instrument_ids: list[str], start: str | None, end: str | None
) -> MarketTape:
    """:func:`load_market_tape`, built once and kept as ``.npy`` files in the temporary folder
    (keyed by the part files' names, sizes and times, the window and the instrument): every
    worker of a sweep, and later sweeps of the same data, map the same arrays read-only instead
    of each decoding the recording again. A lock makes the first worker build it and the others
    wait for it."""
    if len(instrument_ids) != 1:
        raise VectorRefusal(
            f"the vector path runs one instrument; this run has {len(instrument_ids)}"
        )
    instrument = store.instrument(instrument_ids[0])
    window = parse_time_range(start, end)
    plan = plan_replay(store, instrument_ids, [0], None, None, window)
    parts = []
    for day in plan.days:
        for part in store.parts(instrument_ids[0], day):
            stat = part.path.stat()
            parts.append([str(part.path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps([CACHE_VERSION, repr(instrument), start, end, parts])
    key = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "stom-vector-tape"
    cache.mkdir(parents=True, exist_ok=True)
    folder = cache / key
    with (cache / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            tape = load_market_tape(store, instrument_ids, start, end)
            _evict(cache, keep=CACHE_KEEP - 1)
            _save(tape, folder)
        (folder / "done").touch()  # the time of last use, for eviction
    return _open(folder, instrument)


def _save(tape: MarketTape, folder: Path) -> None:
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    for field in fields(MarketTape):
        if field.name not in ("instrument", "trades"):
            np.save(building / f"{field.name}.npy", getattr(tape, field.name))
    for name in TRADE_FIELDS:
        np.save(building / f"trade_{name}.npy", getattr(tape.trades, name))
    (building / "done").touch()
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)


def _open(folder: Path, instrument: Instrument) -> MarketTape:
    def array(name: str) -> Any:
        return np.load(folder / f"{name}.npy", mmap_mode="r")

    trades = TradeTape(
        instrument=instrument, **{name: array(f"trade_{name}") for name in TRADE_FIELDS}
    )
    arrays = {
        field.name: array(field.name)
        for field in fields(MarketTape)
        if field.name not in ("instrument", "trades")
    }
    return MarketTape(instrument=instrument, trades=trades, **arrays)


def _evict(cache: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently used tapes."""
    done = sorted(
        (path.stat().st_mtime_ns, path.parent)
        for path in cache.glob("*/done")
        if not path.parent.name.endswith(".building")
    )
    for _, folder in done[: max(0, len(done) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)
        cache.joinpath(f"{folder.name}.lock").unlink(missing_ok=True)


def count_trades(
    store: TickStore, instrument_ids: list[str], start: str | None, end: str | None
) -> int:
    """Trades a replay of ``instrument_ids`` between ``start`` and ``end`` delivers (from the
    Parquet files, without reading the rest)."""
    window = parse_time_range(start, end)
    plan = plan_replay(store, instrument_ids, list(range(len(instrument_ids))), None, None, window)
    paths = [
        part.path
        for iid in plan.instrument_ids
        for day in plan.days
        for part in store.parts(iid, day)
    ]
    if not paths:
        return 0
    start_ns, end_ns = plan.start_ns, plan.end_ns

    def trades(scan: pl.LazyFrame) -> pl.LazyFrame:
        query = scan.filter(pl.col("kind") == TRADE)
        if start_ns is not None:
            query = query.filter(pl.col("ts_event") >= start_ns)
        if end_ns is not None:
            query = query.filter(pl.col("ts_event") < end_ns)
        return query.select(pl.len())

    return scan_parts(paths, trades)


@numba.njit(cache=True)
def _book_tops(
    kind: I8, side: I8, price: IntArray, size: IntArray, row_end: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """The best bid and ask (and their sizes) and the last trade price after each batch, by
    ``MarketState.apply``'s rules (best prices kept incrementally, a level of size 0 removed)."""
    bids = numba.typed.Dict.empty(numba.types.int64, numba.types.int64)
    asks = numba.typed.Dict.empty(numba.types.int64, numba.types.int64)
    count = len(row_end)
    out_bid = np.zeros(count, np.int64)
    out_bid_size = np.zeros(count, np.int64)
    out_ask = np.zeros(count, np.int64)
    out_ask_size = np.zeros(count, np.int64)
    out_last = np.zeros(count, np.int64)
    best_bid = 0
    best_ask = 0
    last = 0
    row = 0
    for batch in range(count):
        end = row_end[batch]
        while row < end:
            k = kind[row]
            p = price[row]
            if k == BOOK_LEVEL:
                q = size[row]
                if side[row] == BID:
                    if q:
                        bids[p] = q
                        best_bid = max(best_bid, p)
                    elif p in bids:
                        del bids[p]
                        if p == best_bid:
                            best_bid = 0
                            for level in bids:
                                best_bid = max(best_bid, level)
                elif q:
                    asks[p] = q
                    if p < best_ask or best_ask == 0:
                        best_ask = p
                elif p in asks:
                    del asks[p]
                    if p == best_ask:
                        best_ask = 0
                        for level in asks:
                            if best_ask == 0 or level < best_ask:
                                best_ask = level
            elif k == TRADE:
                last = p
            elif k == BOOK_CLEAR:
                bids.clear()
                asks.clear()
                best_bid = 0
                best_ask = 0
            row += 1
        out_bid[batch] = best_bid
        out_bid_size[batch] = bids.get(best_bid, 0)
        out_ask[batch] = best_ask
        out_ask_size[batch] = asks.get(best_ask, 0)
        out_last[batch] = last
    return out_bid, out_bid_size, out_ask, out_ask_size, out_last
