"""Public history over REST: candles and recent trades as polars DataFrames in raw units."""

from __future__ import annotations

from engine.domain.market_data import ASK, BID
from engine.venues.binance import download_candles, recent_trades
from engine.venues.binance.loopback import BinanceLoopback

NS_PER_MINUTE = 60 * 10**9


async def test_candles_cover_the_servers_trades(server: BinanceLoopback) -> None:
    server.pause_market()  # the server's trades must not move while we compare
    pages: list[int] = []
    candles = await download_candles(
        "BTCUSDT", "1m", start_ns=0, rest_url=server.rest_url, progress=pages.append
    )
    assert candles.height >= 1 and pages == [candles.height]
    assert candles["ts_open"].to_list() == sorted(candles["ts_open"].to_list())
    assert all(ts % NS_PER_MINUTE == 0 for ts in candles["ts_open"])
    trades = list(server.market.books["BTCUSDT"].trades)
    # Prices at precision 2 (the server holds 8 decimals), sizes at BTC's precision 8.
    assert candles["high"].max() == max(t.price for t in trades) // 10**6
    assert candles["low"].min() == min(t.price for t in trades) // 10**6
    assert candles["trades"].sum() == len(trades)
    assert candles["volume"].sum() == sum(t.qty for t in trades)


async def test_recent_trades_match_the_server(server: BinanceLoopback) -> None:
    server.pause_market()
    frame = await recent_trades("ETHUSDT", limit=50, rest_url=server.rest_url)
    expected = list(server.market.books["ETHUSDT"].trades)[-50:]
    assert frame.height == len(expected) == 50
    assert frame["trade_id"].to_list() == [t.trade_id for t in expected]
    assert frame["price"].to_list() == [t.price // 10**6 for t in expected]
    assert frame["size"].to_list() == [t.qty for t in expected]  # ETH's precision 8
    assert frame["side"].to_list() == [ASK if t.buyer_is_maker else BID for t in expected]
    assert frame["ts_event"].to_list() == [t.time_ms * 10**6 for t in expected]


async def test_the_latest_count_candles_page_backwards(server: BinanceLoopback) -> None:
    server.pause_market()
    every = await download_candles("BTCUSDT", "1s", rest_url=server.rest_url)
    assert 2 < every.height <= 1000
    latest = await download_candles("BTCUSDT", "1s", 2, rest_url=server.rest_url)
    assert latest.rows() == every.tail(2).rows()


async def test_more_candles_than_one_page_are_fetched_page_by_page() -> None:
    server = BinanceLoopback(symbols=["BTCUSDT"], warmup_s=1500, rate=60)
    await server.start()
    try:
        server.pause_market()
        forward = await download_candles("BTCUSDT", "1s", start_ns=0, rest_url=server.rest_url)
        assert forward.height > 1100  # two pages forwards
        pages: list[int] = []
        latest = await download_candles(
            "BTCUSDT", "1s", 1100, rest_url=server.rest_url, progress=pages.append
        )
        assert pages == [1000, 1100]  # two pages backwards
        assert latest.rows() == forward.tail(1100).rows()
    finally:
        await server.stop()
