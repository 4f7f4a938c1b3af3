"""Upbit frames as documented (protocols.md §A.10), book diffs, downloads over the loopback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.venues.upbit import download_candles, recent_trades
from engine.venues.upbit.loopback import UpbitLoopback
from engine.venues.upbit.normalize import UpbitNormalizer
from engine.venues.upbit.rules import build_instrument
from engine.venues.upbit.wire import KEEPALIVE, ServerError, classify_other, decoder_for

TRADE_DEFAULT = (
    b'{"type":"trade","code":"KRW-BTC","trade_price":103460000.0,"trade_volume":0.004,'
    b'"ask_bid":"ASK","prev_closing_price":102417000.0,"change":"RISE","change_price":1043000.0,'
    b'"trade_date":"2026-03-11","trade_time":"14:40:59","trade_timestamp":1773240059095,'
    b'"timestamp":1773240059121,"sequential_id":17732400590950000,"best_ask_price":103493000.0,'
    b'"best_ask_size":0.04910155,"best_bid_price":103460000.0,"best_bid_size":0.0,'
    b'"stream_type":"REALTIME"}'
)
TRADE_SIMPLE = (
    b'{"ty":"trade","cd":"KRW-BTC","tp":103460000.0,"tv":0.004,"ab":"ASK","pcp":102417000.0,'
    b'"c":"RISE","cp":1043000.0,"td":"2026-03-11","ttm":"14:40:59","ttms":1773240059095,'
    b'"tms":1773240059121,"sid":17732400590950000,"bap":103493000.0,"bas":0.04910155,'
    b'"bbp":103460000.0,"bbs":0.0,"st":"REALTIME"}'
)
BOOK_DEFAULT = (
    b'{"type":"orderbook","code":"KRW-BTC","timestamp":1773240059027,"total_ask_size":0.11056155,'
    b'"total_bid_size":0.00883381,"orderbook_units":['
    b'{"ask_price":103493000.0,"bid_price":103460000.0,"ask_size":0.04910155,"bid_size":0.004},'
    b'{"ask_price":103507000.0,"bid_price":103438000.0,"ask_size":0.06146,"bid_size":0.00483381}],'
    b'"level":0,"stream_type":"SNAPSHOT"}'
)
BOOK_SIMPLE = (
    b'{"ty":"orderbook","cd":"KRW-BTC","tms":1773240059027,"tas":0.11056155,"tbs":0.00883381,'
    b'"obu":[{"ap":103493000.0,"bp":103460000.0,"as":0.04910155,"bs":0.004},'
    b'{"ap":103507000.0,"bp":103438000.0,"as":0.06146,"bs":0.00483381}],"lv":0,"st":"SNAPSHOT"}'
)


@pytest.fixture
def btc() -> Instrument:
    return build_instrument("KRW-BTC", "Bitcoin", Decimal(103_460_000), Decimal(1000))


def events(batch: MarketBatch) -> list[tuple[int, int, int, int, int, int]]:
    return list(
        zip(batch.kind, batch.instrument, batch.side, batch.price, batch.size, batch.ts_event,
            strict=True)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("wire_format", "trade", "book"),
    [("DEFAULT", TRADE_DEFAULT, BOOK_DEFAULT), ("SIMPLE", TRADE_SIMPLE, BOOK_SIMPLE)],
)
def test_documented_frames_normalize_exactly(
    btc: Instrument, wire_format: str, trade: bytes, book: bytes
) -> None:
    decode = decoder_for(wire_format).decode
    normalizer = UpbitNormalizer([btc], lambda _id: 3)
    batch = MarketBatch()
    assert normalizer.on_trade(decode(trade), batch)
    assert normalizer.on_orderbook(decode(book), batch)
    ts_book = 1773240059027 * 1_000_000
    assert events(batch) == [
        (TRADE, 3, ASK, 103_460_000, 400_000, 1773240059095 * 1_000_000),
        (BOOK_CLEAR, 3, BID, 0, 0, ts_book),
        (BOOK_LEVEL, 3, BID, 103_460_000, 400_000, ts_book),
        (BOOK_LEVEL, 3, BID, 103_438_000, 483_381, ts_book),
        (BOOK_LEVEL, 3, ASK, 103_493_000, 4_910_155, ts_book),
        (BOOK_LEVEL, 3, ASK, 103_507_000, 6_146_000, ts_book),
    ]


def test_later_snapshots_become_level_diffs(btc: Instrument) -> None:
    decode = decoder_for("SIMPLE").decode
    normalizer = UpbitNormalizer([btc], lambda _id: 0)
    normalizer.on_orderbook(decode(BOOK_SIMPLE), MarketBatch())
    changed = BOOK_SIMPLE.replace(b'"tms":1773240059027', b'"tms":1773240059500').replace(
        b'{"ap":103507000.0,"bp":103438000.0,"as":0.06146,"bs":0.00483381}',
        b'{"ap":103507000.0,"bp":103437000.0,"as":0.07,"bs":0.1}',
    )
    batch = MarketBatch()
    normalizer.on_orderbook(decode(changed), batch)
    ts = 1773240059500 * 1_000_000
    assert sorted(events(batch)) == sorted(
        [
            (BOOK_LEVEL, 0, BID, 103_437_000, 10_000_000, ts),
            (BOOK_LEVEL, 0, BID, 103_438_000, 0, ts),
            (BOOK_LEVEL, 0, ASK, 103_507_000, 7_000_000, ts),
        ]
    )
    older = MarketBatch()
    assert not normalizer.on_orderbook(decode(BOOK_SIMPLE), older), "an older snapshot is skipped"
    assert len(older) == 0


def test_keepalive_errors_and_garbage_are_told_apart() -> None:
    assert classify_other(b'{"status":"UP"}') is KEEPALIVE
    error = classify_other(b'{"error":{"name":"NO_TICKET","message":"ticket"}}')
    assert isinstance(error, ServerError) and error.name == "NO_TICKET"
    assert classify_other(b'{"ty":"trade","cd":') is None


async def test_download_candles_and_recent_trades(server: UpbitLoopback) -> None:
    progress: list[tuple[int, int]] = []
    candles = await download_candles(
        "KRW-BTC", "1m", 3, rest_url=server.rest_url, on_progress=lambda *p: progress.append(p)
    )
    assert candles.columns == ["ts_open", "open", "high", "low", "close", "volume", "value"]
    assert 1 <= candles.height <= 3 and progress[-1][1] == 3
    assert candles["ts_open"].is_sorted()
    row = candles.row(0, named=True)
    assert row["low"] <= min(row["open"], row["close"]) <= row["high"]

    server.pause_market()  # the newest trade on the server stays the newest while we page
    trades = await recent_trades("KRW-BTC", 700, rest_url=server.rest_url)  # two pages
    assert trades.height == 700
    assert trades["ts_event"].is_sorted()
    tape = list(server.market.tape[0])
    assert trades["sequential_id"].to_list()[-1] == max(t.sequential_id for t in tape)
    assert set(trades["side"].unique().to_list()) <= {BID, ASK}
    with pytest.raises(ValueError, match="interval"):
        await download_candles("KRW-BTC", "7m", rest_url=server.rest_url)
