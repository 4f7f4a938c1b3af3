"""BinanceFeed against the loopback server: real sockets, the real client code, injected faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.fixed_point import to_raw
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.venues.base import FeedState
from engine.venues.binance import BinanceFeed
from engine.venues.binance.instruments import InstrumentRulesError
from engine.venues.binance.loopback import BinanceLoopback
from tests.venues.binance.conftest import SYMBOLS, RunningFeed, wait_for


async def test_instrument_rules_come_from_exchange_info(server: BinanceLoopback) -> None:
    feed = BinanceFeed(server.rest_url, server.ws_url)
    btc, eth = await feed.load_instruments(SYMBOLS)
    assert str(btc.id) == "BTCUSDT.BINANCE"
    assert (btc.base_currency, btc.quote_currency) == ("BTC", "USDT")
    # tickSize 0.01: price precision 2, one raw unit a tick. Sizes at baseAssetPrecision (8,
    # what a balance holds after a commission in BTC); stepSize 0.00001 is the lot, 1000 raw.
    assert (btc.price_precision, btc.size_precision) == (2, 8)
    assert btc.tick_table.tick_at(10_000_000) == 1 and btc.lot_size_raw == 1000
    assert btc.min_notional == Decimal(5)
    assert (eth.price_precision, eth.size_precision, eth.lot_size_raw) == (2, 8, 10_000)
    with pytest.raises(InstrumentRulesError, match="DOGEUSDT"):
        await feed.load_instruments(["DOGEUSDT"])
    await feed.close()


async def test_trades_and_books_arrive_normalized(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    mirror = running_feed.mirror
    btc = running_feed.instruments["BTCUSDT"]
    index = mirror.ids["BTCUSDT.BINANCE"]
    await wait_for(lambda: len(mirror.trades.get(index, [])) >= 5, "BTCUSDT trades")
    await running_feed.synced_with(server, "BTCUSDT")
    await running_feed.synced_with(server, "ETHUSDT")
    # Every trade we parsed is one the server printed, at the instrument's precisions.
    printed = {
        (ASK if t.buyer_is_maker else BID, t.price // 10**6, t.qty, t.time_ms * 10**6)
        for t in server.market.books["BTCUSDT"].trades
    }
    ours = mirror.trades[index]
    assert ours and all(trade in printed for trade in ours)
    best_bid = mirror.levels("BTCUSDT", BID)[0][0]
    best_ask = mirror.levels("BTCUSDT", ASK)[0][0]
    assert 0 < best_bid < best_ask
    assert btc.format_price(best_bid) == server.book("BTCUSDT")[0][0][0][:-6]
    assert running_feed.feed.health.malformed == 0
    assert running_feed.feed.health.gaps == 0


async def test_reconnects_and_resyncs_after_the_server_drops_the_connection(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    health = running_feed.feed.health
    await running_feed.synced_with(server, "BTCUSDT")
    server.resume_market()
    wakes_before = len(running_feed.mirror.wakes)
    await server.drop_connections()
    await wait_for(lambda: health.reconnects >= 1 and running_feed.live(), "a reconnect")
    assert health.connects == 2
    # The drop made every book untrusted: a BOOK_CLEAR went out while the ids were resyncing.
    clears = [
        wake
        for wake in running_feed.mirror.wakes[wakes_before:]
        if any(event[0] == BOOK_CLEAR for event in wake.events)
    ]
    assert clears and {"BTCUSDT.BINANCE", "ETHUSDT.BINANCE"} <= clears[0].resyncing
    await running_feed.synced_with(server, "BTCUSDT")
    await running_feed.synced_with(server, "ETHUSDT")


async def test_a_sequence_gap_holds_the_book_until_the_snapshot_resync(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    mirror, health = running_feed.mirror, running_feed.feed.health
    btc = running_feed.instruments["BTCUSDT"]
    index = mirror.ids["BTCUSDT.BINANCE"]
    await running_feed.synced_with(server, "BTCUSDT")
    wakes_before = len(mirror.wakes)
    # A lost diff: the deepest bid changes on the server but the event never reaches us.
    deepest_bid = server.book("BTCUSDT")[0][-1]
    server.inject_gap("BTCUSDT")
    changed = server.book("BTCUSDT")[0][-1]
    assert changed != deepest_bid
    server.nudge("BTCUSDT", ASK)  # the next diff, market still frozen, reveals the gap
    await wait_for(lambda: health.gaps >= 1, "the gap to be detected")
    await wait_for(lambda: "BTCUSDT.BINANCE" not in health.resyncing, "the resync")
    after = mirror.wakes[wakes_before:]
    first_clear = next(
        n
        for n, w in enumerate(after)
        if any(e[0] == BOOK_CLEAR and e[1] == index for e in w.events)
    )
    assert "BTCUSDT.BINANCE" in after[first_clear].resyncing
    # While the book was untrusted no level of it reached the engine: the whole window is
    # covered by health.resyncing, and the first levels after it come with the snapshot.
    for wake in after[first_clear + 1 :]:
        if "BTCUSDT.BINANCE" not in wake.resyncing:
            break
        assert not any(e[0] == BOOK_LEVEL and e[1] == index for e in wake.events)
    assert health.state in (FeedState.LIVE, FeedState.RESYNCING)
    await running_feed.synced_with(server, "BTCUSDT")
    price, size = changed
    assert mirror.books[index][BID][to_raw(price, 2)] == to_raw(size, btc.size_precision)


async def test_malformed_frames_are_counted_and_skipped(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    health, mirror = running_feed.feed.health, running_feed.mirror
    await server.inject_malformed()
    await wait_for(lambda: health.malformed >= 2, "two malformed frames counted")
    assert "malformed frame skipped" in health.last_error
    index = mirror.ids["BTCUSDT.BINANCE"]
    seen = len(mirror.trades.get(index, []))
    await wait_for(lambda: len(mirror.trades.get(index, [])) > seen, "trades after the bad frames")
    assert health.reconnects == 0
    assert all(trade[1] > 0 for trade in mirror.trades[index])  # the "1.2.3" price never landed
    assert TRADE == 1


async def test_a_rate_limited_snapshot_is_retried_after_retry_after(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    health = running_feed.feed.health
    server.inject_rate_limit(status=429, retry_after_s=1, count=1)
    await server.drop_connections()
    await wait_for(lambda: health.reconnects >= 1, "a reconnect")
    await wait_for(lambda: "429" in health.last_error, "the snapshot to be rate limited")
    await wait_for(running_feed.live, "the books after Retry-After")
    assert [r.status for r in server.requests].count(429) == 1
    await running_feed.synced_with(server, "BTCUSDT")


async def test_slow_replies_delay_but_do_not_break_the_feed(
    server: BinanceLoopback, running_feed: RunningFeed
) -> None:
    server.set_latency(0.3)
    await server.drop_connections()
    await wait_for(
        lambda: running_feed.feed.health.reconnects >= 1 and running_feed.live(), "a slow resync"
    )
    await running_feed.synced_with(server, "ETHUSDT")
