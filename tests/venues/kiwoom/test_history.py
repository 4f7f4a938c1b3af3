"""Candles and recent trades over Kiwoom REST from the loopback server, as polars frames."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from engine.venues.kiwoom import download_candles, recent_trades
from tests.venues.kiwoom.helpers import credentials, eventually, loopback


async def test_candles_and_recent_trades_match_the_venue_trades() -> None:
    async with loopback(rate=1500.0) as server:
        stock = server.market.by_code["005930"]
        await eventually(lambda: len(stock.trades) >= 30, what="30 trades on the server")
        server.paused = True
        await asyncio.sleep(0.05)
        trades = await recent_trades("005930.KRX", rest_url=server.rest_url, **credentials())
        candles = await download_candles("005930", rest_url=server.rest_url, **credentials())
    assert trades.columns == ["ts", "price", "size", "side"]
    expected = stock.trades[-100:]
    assert trades["price"].to_list() == [price for _, price, _, _ in expected]
    assert trades["size"].to_list() == [abs(signed) for _, _, signed, _ in expected]
    assert trades["side"].to_list() == ["sell" if s < 0 else "buy" for _, _, s, _ in expected]
    assert trades["ts"].is_sorted()
    assert candles.columns == ["ts", "open", "high", "low", "close", "volume"]
    assert candles.schema["close"] == pl.Int64 and candles.height >= 1
    assert candles["volume"].sum() == sum(abs(s) for _, _, s, _ in stock.trades)
    assert (candles["low"] <= candles["open"]).all() and (candles["high"] >= candles["close"]).all()


async def test_unknown_interval_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="interval '2h'"):
        await download_candles(
            "005930", rest_url="http://127.0.0.1:9", interval="2h", **credentials()
        )
