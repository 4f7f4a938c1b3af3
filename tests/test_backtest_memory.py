"""Bounded replay memory: days stream a part file at a time (engine.backtest.stream), in exactly
the order the whole-day sort gives, and a backtest's peak RSS stays flat as a day grows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from engine.backtest.replay import plan_replay, replay_batches
from engine.backtest.sample_data import write_sample
from engine.backtest.stream import stream_day
from engine.domain.market_data import BOOK_LEVEL, TRADE
from engine.market_state import MarketState
from engine.sim.catalog import sim_instrument
from engine.storage.part_order import ORDER_KEY, part_order, summarize
from engine.storage.tick_store import TickStore, TickWriter, day_start_ns

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 1, 5)


class WholeDayStore(TickStore):
    """Reads whole days (a store that overrides ``read_day`` is never streamed)."""

    def read_day(self, instrument_id: str, day: date, *, has_book: bool) -> pl.DataFrame:
        return super().read_day(instrument_id, day, has_book=has_book)


def replayed(store: TickStore) -> list[tuple[int, tuple[int, ...], int]]:
    ids = store.instrument_ids()
    market = MarketState()
    indexes = [market.add(store.instrument(iid)) for iid in ids]
    plan = plan_replay(store, ids, indexes, None, None)
    rows: list[tuple[int, tuple[int, ...], int]] = []
    for ts_init, batch, done in replay_batches(store, plan):
        columns = zip(batch.kind, batch.instrument, batch.side, batch.price, batch.size,
                      batch.ts_event, strict=True)  # fmt: skip
        rows.append((ts_init, tuple(value for row in columns for value in row), done))
    return rows


def test_streamed_days_replay_exactly_as_whole_days(tmp_path: Path) -> None:
    # Two instruments sharing every ts_init (5 ms batches), two or three part files each, two days.
    write_sample(tmp_path, symbols=("KRW-BTC", "KRW-ETH"), days=2, first_day=DAY,
                 session_minutes=2.5, rate=2_000.0, seed=3)  # fmt: skip
    store = TickStore(tmp_path)
    ids = store.instrument_ids()
    assert all(len(store.parts(iid, DAY)) >= 2 for iid in ids)
    streamed = replayed(store)
    assert streamed == replayed(WholeDayStore(tmp_path))
    assert len(streamed) > 10_000


def test_a_day_whose_ts_init_steps_back_is_sorted_whole(tmp_path: Path) -> None:
    instrument = sim_instrument("KRW-BTC")
    start = day_start_ns(DAY) + 1_000_000_000
    writer = TickWriter(tmp_path, instrument, 0, session=start)
    inits = [start, start + 30, start + 20, start + 40]  # the third row steps back
    writer.write_frame(
        pl.DataFrame(
            {
                "ts_event": pl.Series([start + n for n in range(4)], dtype=pl.Int64()),
                "ts_init": pl.Series(inits, dtype=pl.Int64()),
                "kind": pl.Series([BOOK_LEVEL, BOOK_LEVEL, TRADE, TRADE], dtype=pl.Int8()),
                "side": pl.Series([0, 1, 0, 1], dtype=pl.Int8()),
                "price": pl.Series([99_000, 100_000, 100_000, 99_000], dtype=pl.Int64()),
                "size": pl.Series([5, 5, 1, 2], dtype=pl.Int64()),
            }
        )
    )
    store = TickStore(tmp_path)
    iid = store.instrument_ids()[0]
    assert stream_day(store, [iid], [0], DAY, [False]) is None
    times = [ts for ts, _, _ in replayed(store)]
    assert times == sorted(times) and len(times) == 4
    assert replayed(store) == replayed(WholeDayStore(tmp_path))
    # The same from the column of a part written without the order in its metadata.
    for part in store.parts(iid, DAY):
        strip_order(part.path)
    assert stream_day(store, [iid], [0], DAY, [False]) is None


def strip_order(path: Path) -> None:
    """Rewrite a part file as one written before the order was kept in its metadata."""
    assert ORDER_KEY in pl.read_parquet_metadata(path)
    pl.read_parquet(path).write_parquet(path)
    assert ORDER_KEY not in pl.read_parquet_metadata(path)


def test_parts_keep_their_ts_init_order_and_parts_without_it_are_read(tmp_path: Path) -> None:
    """What a part's metadata says of its ts_init (all rows, rows after its snapshot) is what
    its column says; a part without it is read from the column, and replays the same."""
    write_sample(tmp_path, symbols=("KRW-BTC", "KRW-ETH"), days=2, first_day=DAY,
                 session_minutes=2.5, rate=2_000.0, seed=4)  # fmt: skip
    store = TickStore(tmp_path)
    before = replayed(store)
    parts = [part for iid in store.instrument_ids() for day in store.days(iid)
             for part in store.parts(iid, day)]  # fmt: skip
    assert len(parts) >= 8 and any(part.continues for part in parts)
    for part in parts:
        frame = pl.read_parquet(part.path)
        for live in (False, True):
            rows = frame.filter(~pl.col("snapshot")) if live else frame
            assert part_order(part.path, live) == summarize(rows["ts_init"].to_numpy())
        strip_order(part.path)
        for live in (False, True):
            rows = frame.filter(~pl.col("snapshot")) if live else frame
            assert part_order(part.path, live) == summarize(rows["ts_init"].to_numpy())
    assert replayed(store) == before


CHILD = """
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.config.settings import Settings
with tempfile.TemporaryDirectory() as results:
    request = BacktestRequest(strategy_file=sys.argv[3], data_dir=sys.argv[2], results_dir=results)
    summary = run_backtest(request, Settings()).summary
# VmHWM, not ru_maxrss: that carries the (large) pytest process's peak over fork and exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rss_mb": peak / 1024, "ticks": summary.ticks}))
"""


def peak_rss(data: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(data), str(ROOT / "bench/strategies/noop.py")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(120)
def test_peak_memory_stays_flat_as_a_day_grows_tenfold(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.real_shaped import write_real_shaped
    finally:
        sys.path.remove(str(ROOT))
    small, large = tmp_path / "small", tmp_path / "large"
    write_real_shaped(small, trades_per_day=40_000)
    write_real_shaped(large, trades_per_day=400_000)
    base, grown = peak_rss(small), peak_rss(large)
    assert grown["ticks"] > 9 * base["ticks"]
    # A whole day in memory grows by about 150 MB here; streamed, by a few MB.
    assert grown["rss_mb"] - base["rss_mb"] < 50, (base, grown)
