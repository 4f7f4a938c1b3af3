"""The conflating outbox and the market publisher that fills it."""

from __future__ import annotations

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.market_publisher import MarketPublisher
from engine.market_state import MarketState
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.protocol.topics import TIMEFRAMES, Topics
from tests.test_engine_market_state import stock


def test_state_conflates_and_events_keep_order() -> None:
    box = Outbox(max_events=3)
    box.put_state("a", b"1")
    box.put_event("e", b"x1")
    box.put_state("a", b"2")
    for n in range(2, 5):
        box.put_event("e", f"x{n}".encode())
    out = box.take()
    assert [m.data for m in out] == [b"x2", b"x3", b"x4", b"2"]
    assert box.events_dropped == 1 and box.states_conflated == 1
    assert box.take() == []


def test_retained_state_is_restored_after_reconnect_unless_newer() -> None:
    box = Outbox()
    box.put_state("s", b"old")
    box.put_state("t", b"keep")
    for message in box.take():
        box.sent(message)
    box.put_state("s", b"new")
    box.restore_retained()
    assert {m.topic: m.data for m in box.take()} == {"s": b"new", "t": b"keep"}


def test_requeue_puts_unsent_messages_back_in_order() -> None:
    box = Outbox()
    box.put_event("e", b"1")
    box.put_event("e", b"2")
    box.put_state("s", b"v")
    pending = box.take()
    box.put_event("e", b"3")
    box.requeue(pending[1:])
    assert [m.data for m in box.take()] == [b"2", b"3", b"v"]


def test_publisher_sends_only_what_changed() -> None:
    market = MarketState()
    i = market.add(stock(), prev_close_raw=70000)
    topics = Topics("t")
    publisher = MarketPublisher(market, topics, book_depth=10, trades_per_flush=2)
    box = Outbox()
    batch = MarketBatch()
    batch.append(BOOK_LEVEL, i, BID, 70000, 5, 1)
    batch.append(BOOK_LEVEL, i, ASK, 70100, 3, 1)
    for n in range(3):
        batch.append(TRADE, i, BID, 70100, 1, 2 + n)
    market.apply(batch)
    publisher.collect(box, now_ns=10)
    out = {m.topic: m for m in box.take()}
    iid = "005930.SIM"
    assert set(out) == {
        topics.tickers,
        topics.book(iid),
        topics.trades(iid),
        *(topics.bar(tf, iid) for tf in TIMEFRAMES),
    }
    ticker = decode(out[topics.tickers].data, p.Tickers).tickers[0]
    assert (ticker.last, ticker.change_pct, ticker.spread, ticker.volume) == (
        "70100",
        "0.14",
        "100",
        "3",
    )
    book = decode(out[topics.book(iid)].data, p.BookSnapshot)
    assert book.bids == [("70000", "5")] and book.asks == [("70100", "3")]
    trades = decode(out[topics.trades(iid)].data, p.Trades)
    assert len(trades.trades) == 2 and trades.skipped == 1  # capped per flush
    assert not out[topics.trades(iid)].retain
    publisher.collect(box, now_ns=20)
    assert box.take() == []  # nothing changed, nothing sent
    publisher.collect(box, now_ns=61_000_000_000)  # a minute passes: both bars close
    topics_now = {m.topic for m in box.take()}
    assert topics.bars("1s", iid) in topics_now and topics.bars("1m", iid) in topics_now
