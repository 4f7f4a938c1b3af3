"""The official local-book procedure (protocols.md §B.7), without sockets."""

from __future__ import annotations

import pytest

from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL, MarketBatch
from engine.venues.binance.depth_sync import DepthSync
from engine.venues.binance.wire import DepthUpdate


def diff(first: int, last: int, bids: list[tuple[str, str]]) -> DepthUpdate:
    return DepthUpdate(E=1, s="BTCUSDT", U=first, u=last, b=bids, a=[])


def test_buffered_diffs_after_the_snapshot_are_applied_and_older_ones_dropped() -> None:
    sync, out = DepthSync(7, 2, 5), MarketBatch()
    assert sync.on_update(diff(95, 99, [("100.00000000", "1.00000000")]), out)
    assert sync.on_update(diff(100, 104, [("101.00000000", "2.00000000")]), out)
    assert len(out) == 0  # nothing leaves before the snapshot
    assert sync.apply_snapshot(101, [("99.00", "3.00")], [], 5, out)
    assert out.kind == [BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL]
    assert out.price[1:] == [9900, 10100] and out.size[1:] == [300000, 200000]
    assert sync.synced and sync.last_update_id == 104


def test_a_snapshot_older_than_the_buffered_diffs_is_refused() -> None:
    sync, out = DepthSync(0, 2, 5), MarketBatch()
    sync.on_update(diff(200, 210, []), out)
    assert not sync.apply_snapshot(150, [("99.00", "3.00")], [], 5, out)
    assert len(out) == 0 and not sync.synced and len(sync.buffer) == 1


def test_a_gap_untrusts_the_book_and_buffers_from_the_gap_on() -> None:
    sync, out = DepthSync(0, 2, 5), MarketBatch()
    assert sync.apply_snapshot(10, [], [], 5, out)
    assert sync.on_update(diff(11, 12, [("1.00", "1.00")]), out)
    assert sync.on_update(diff(5, 12, []), out)  # already in the book: ignored
    emitted = len(out)
    assert not sync.on_update(diff(14, 15, [("2.00", "1.00")]), out)
    assert len(out) == emitted and not sync.synced and sync.buffer[0].U == 14


def test_a_diff_with_a_bad_number_writes_nothing() -> None:
    sync, out = DepthSync(0, 2, 5), MarketBatch()
    assert sync.apply_snapshot(10, [], [], 5, out)
    emitted = len(out)
    bad = DepthUpdate(E=1, s="BTCUSDT", U=11, u=11, b=[("1.00", "1.00")], a=[("x", "1.00")])
    with pytest.raises(ValueError):
        sync.on_update(bad, out)
    assert len(out) == emitted == len(out.price) and sync.last_update_id == 10
