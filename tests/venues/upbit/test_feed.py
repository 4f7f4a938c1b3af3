"""UpbitFeed against the loopback: subscribe and parse, reconnect, stall resync, bad frames."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL
from engine.venues.base import FeedSink, FeedState
from engine.venues.upbit import UpbitFeed
from engine.venues.upbit.loopback import UpbitLoopback
from engine.venues.upbit.rules import UnsupportedSymbol
from tests.venues.upbit.support import (
    SYMBOLS,
    BookModel,
    RecordingSink,
    raw_book,
    running,
    wait_for,
)


def index_of(instrument_id: str) -> int:
    return [f"{symbol}.UPBIT" for symbol in SYMBOLS].index(instrument_id)


async def books_match(
    server: UpbitLoopback, sink: FeedSink, model: BookModel, instruments: list[Instrument]
) -> None:
    """Freeze the market and wait until the engine's books equal what the server publishes."""
    server.pause_market()

    def equal() -> bool:
        model.apply(sink.take())
        return all(
            model.top(position) == raw_book(server.published_book(symbol), instruments[position])
            for position, symbol in enumerate(SYMBOLS)
        )

    await wait_for(equal, what="the feed's books to equal the server's")
    server.resume_market()


async def test_instruments_carry_the_venue_rules(
    server: UpbitLoopback, instruments: list[Instrument]
) -> None:
    btc, xrp = instruments
    assert str(btc.id) == "KRW-BTC.UPBIT"
    assert btc.min_notional == Decimal(5000)
    assert btc.taker_fee == Decimal("0.0005")
    assert btc.size_precision == 8
    # orderbook/instruments says 1,000 KRW at ~100M KRW; XRP near 3,000 KRW ticks by 1 KRW.
    assert btc.tick_table.tick_at(100_000_000) == 1000
    assert xrp.tick_table.tick_at(3000 * 10**xrp.price_precision) == 10**xrp.price_precision
    assert not btc.tick_table.is_on_grid(100_000_500)


async def test_unknown_and_non_krw_symbols_are_refused_by_name(server: UpbitLoopback) -> None:
    feed = UpbitFeed(server.rest_url, server.ws_url)
    with pytest.raises(UnsupportedSymbol, match="KRW-NOPE"):
        await feed.load_instruments(["KRW-BTC", "KRW-NOPE"])
    with pytest.raises(UnsupportedSymbol, match="BTC-ETH"):
        await feed.load_instruments(["BTC-ETH"])


@pytest.mark.parametrize("wire_format", ["DEFAULT", "SIMPLE"])
async def test_subscribe_and_parse_both_formats(
    server: UpbitLoopback, instruments: list[Instrument], wire_format: str
) -> None:
    feed = UpbitFeed(server.rest_url, server.ws_url, wire_format=wire_format)
    sink = FeedSink(index_of, lambda: None)
    model = BookModel()
    async with running(feed, sink):
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        await wait_for(lambda: sum(k == 1 for k in sink.batch.kind) >= 5, what="5 trades")
        await books_match(server, sink, model, instruments)
    assert feed.health.connects == 1
    assert feed.health.malformed == 0
    # Every trade the engine got is a print on the server's tape, in raw units.
    tape = {
        (t.position, t.price_raw, t.size_raw, t.ts_ns // 1_000_000 * 1_000_000)
        for position in range(len(SYMBOLS))
        for t in server.market.tape[position]
    }
    assert model.trades
    for index, _side, price, size, ts in model.trades:
        instrument = instruments[index]
        sim_precision = server.market.instruments[index].price_precision
        price_sim = int(from_raw(price, instrument.price_precision).scaleb(sim_precision))
        assert (index, price_sim, size, ts) in tape


async def test_reconnects_after_a_server_side_drop_and_restates_books(
    server: UpbitLoopback, instruments: list[Instrument]
) -> None:
    feed = UpbitFeed(server.rest_url, server.ws_url, backoff_min_s=0.05)
    sink = FeedSink(index_of, lambda: None)
    model = BookModel()
    async with running(feed, sink):
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        model.apply(sink.take())
        assert server.drop_connections() == 1
        await wait_for(lambda: feed.health.reconnects == 1, what="a reconnect")
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE again")
        batch = sink.take()
        clears = {index for kind, index in zip(batch.kind, batch.instrument, strict=True)
                  if kind == BOOK_CLEAR}  # fmt: skip
        assert clears == {0, 1}, "every book is restated after the reconnect"
        model.apply(batch)
        await books_match(server, sink, model, instruments)
    assert feed.health.connects == 2
    assert feed.health.resyncing == set()


async def test_a_stall_is_a_gap_books_stay_resyncing_until_restated(
    server: UpbitLoopback, instruments: list[Instrument]
) -> None:
    feed = UpbitFeed(server.rest_url, server.ws_url, stall_timeout_s=0.6, backoff_min_s=0.05)
    sink = RecordingSink(index_of, lambda: feed.health)
    model = BookModel()
    async with running(feed, sink):
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        model.apply(sink.take())
        sink.wakes.clear()
        server.inject_gap(5.0)
        await wait_for(lambda: feed.health.gaps == 1, what="the stall to be detected")
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE after resync")
        batch = sink.take()
        wakes = list(sink.wakes)
        model.apply(batch)
        await books_match(server, sink, model, instruments)
    # At the moment the stall was detected, both books were marked untrustworthy...
    detected = next(i for i, (_, gaps, resyncing) in enumerate(wakes) if gaps == 1)
    at_event, _, resyncing = wakes[detected]
    assert resyncing == {"KRW-BTC.UPBIT", "KRW-XRP.UPBIT"}
    # ...and the first book event of each after that is the BOOK_CLEAR of a full snapshot;
    # the instrument stays in `resyncing` at every wake until that snapshot is in the batch.
    for index, instrument_id in enumerate(["KRW-BTC.UPBIT", "KRW-XRP.UPBIT"]):
        book_events = [
            position
            for position in range(at_event, len(batch))
            if batch.instrument[position] == index and batch.kind[position] != 1
        ]
        assert batch.kind[book_events[0]] == BOOK_CLEAR
        assert all(batch.kind[p] in (BOOK_CLEAR, BOOK_LEVEL) for p in book_events)
        for length, _, resyncing_then in wakes[detected:]:
            if length <= book_events[0]:
                assert instrument_id in resyncing_then
    assert feed.health.reconnects == 1


async def test_malformed_frames_are_counted_and_skipped(
    server: UpbitLoopback, instruments: list[Instrument]
) -> None:
    feed = UpbitFeed(server.rest_url, server.ws_url, wire_format="SIMPLE")
    sink = FeedSink(index_of, lambda: None)
    model = BookModel()
    async with running(feed, sink):
        await wait_for(lambda: feed.health.state is FeedState.LIVE, what="LIVE")
        server.inject_malformed(3)
        await wait_for(lambda: feed.health.malformed == 3, what="3 malformed frames")
        model.apply(sink.take())
        trades_before = len(model.trades)
        await wait_for(lambda: 1 in sink.batch.kind, what="trades after the bad frames")
        await books_match(server, sink, model, instruments)
        assert len(model.trades) > trades_before
    assert feed.health.connects == 1, "a bad frame does not cost the connection"
