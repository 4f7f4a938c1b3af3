"""The replay read one chunk ahead on another thread (engine.backtest.read_ahead): the same
items in the same order, errors raised where they happened, the thread gone when the loop
stops, and a part found damaged in the middle of a backtest named, not a crash or a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from engine.backtest.read_ahead import read_ahead
from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.backtest.sample_data import write_sample
from engine.config.settings import Settings
from engine.storage.part_reading import TickStoreError
from engine.storage.tick_store import TickStore

STRATEGIES = Path(__file__).parent / "strategies"
DAY = date(2026, 1, 5)


def readers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "stom-replay-read"]


def test_items_come_in_order_and_the_reader_stays_at_most_depth_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for number in range(500):
            produced.append(number)
            yield number

    got = []
    for item in read_ahead(source(), depth=2):
        # The one being handed out, ``depth`` waiting and one made but not yet put.
        assert len(produced) - len(got) <= 4
        got.append(item)
        if item % 50 == 0:
            time.sleep(0.002)  # (let the reader fill the queue)
    assert got == list(range(500))
    assert not readers()


def test_an_error_in_the_source_is_raised_where_its_item_would_have_come() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("part 3 is damaged")

    got = []
    with pytest.raises(ValueError, match="part 3 is damaged"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]
    assert not readers()


def test_a_consumer_that_stops_early_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    chunks = read_ahead(source())
    for item in chunks:
        if item == 10:
            break
    chunks.close()  # (what the loop's end does to a generator it leaves)
    assert closed.is_set()
    assert not readers()


class DamagingStore(TickStore):
    """A tick store whose last part is cut short once the replay has begun (a disk going bad
    under a long backtest): found only when the reader reaches it."""

    target: Path | None = None

    def damage(self) -> None:
        if self.target is not None and self.target.stat().st_size > 100:
            whole = self.target.read_bytes()
            self.target.write_bytes(whole[: len(whole) // 3])


def test_a_part_damaged_during_a_backtest_is_named_and_the_reader_stops(tmp_path: Path) -> None:
    write_sample(tmp_path, symbols=("KRW-BTC",), days=1, first_day=DAY,
                 session_minutes=5.0, rate=2_000.0, seed=11)  # fmt: skip
    store = DamagingStore(tmp_path)
    parts = store.parts("KRW-BTC.SIM", DAY)
    assert len(parts) >= 5
    store.target = parts[-1].path
    request = BacktestRequest(
        strategy_file=str(STRATEGIES / "two_ma.py"), data_dir=str(tmp_path),
        results_dir=str(tmp_path / "results"), params={"fast": 4, "slow": 12},
    )  # fmt: skip
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        if not seen:
            store.damage()  # the first report comes while the first part is replayed
        seen.append(done)

    with pytest.raises(TickStoreError, match="damaged part file") as raised:
        run_backtest(request, Settings(), progress, store=store)
    assert str(parts[-1].path) in str(raised.value)
    assert seen  # (the run had begun)
    assert not readers()
