"""Public downloads from Upbit's Quotation REST: candles and recent trades, as polars frames.

Both page backwards from the newest (Upbit answers newest first: candles by ``to``, at most 200 a
call; trades by ``cursor`` = ``sequential_id``, at most 500 a call) and return rows oldest first.
Prices and sizes are raw integers at the instrument's precisions (``instrument.json`` of the tick
store says which), like everything else STOM stores. The transport keeps under the 10 requests a
second of each Quotation group by reading ``Remaining-Req``.

Candle columns: ``ts_open`` (Int64, ns UTC, start of the interval), ``open``, ``high``, ``low``,
``close`` (Int64, raw price), ``volume`` (Int64, raw size), ``value`` (Float64, KRW traded; for
display). Trade columns: ``ts_event`` (Int64, ns UTC), ``price``, ``size`` (Int64, raw),
``side`` (Int8: 0 buyer-initiated, 1 seller-initiated, as in ``MarketBatch``),
``sequential_id`` (Int64).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID
from engine.venues.upbit.feed import DEFAULT_REST_URL, UpbitFeed
from engine.venues.upbit.rest import UpbitRest

CANDLE_PAGE = 200
TRADE_PAGE = 500
MINUTE_INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "10m": 10, "15m": 15, "30m": 30, "1h": 60, "4h": 240}
INTERVALS = (*MINUTE_INTERVALS, "1d")
Progress = Callable[[int, int], None]

CANDLE_SCHEMA = {
    "ts_open": pl.Int64,
    "open": pl.Int64,
    "high": pl.Int64,
    "low": pl.Int64,
    "close": pl.Int64,
    "volume": pl.Int64,
    "value": pl.Float64,
}
TRADE_SCHEMA = {
    "ts_event": pl.Int64,
    "price": pl.Int64,
    "size": pl.Int64,
    "side": pl.Int8,
    "sequential_id": pl.Int64,
}


async def _instrument(symbol: str, rest_url: str, instrument: Instrument | None) -> Instrument:
    if instrument is not None:
        return instrument
    (loaded,) = await UpbitFeed(rest_url=rest_url).load_instruments([symbol])
    return loaded


def _raw(value: Any, precision: int) -> int:
    return round(float(value) * 10**precision)


async def download_candles(
    symbol: str,
    interval: str = "1m",
    count: int = 200,
    *,
    to_ns: int | None = None,
    rest_url: str = DEFAULT_REST_URL,
    instrument: Instrument | None = None,
    on_progress: Progress | None = None,
) -> pl.DataFrame:
    """Up to ``count`` candles of ``symbol`` ending before ``to_ns`` (default: now), oldest first.

    ``interval`` is one of 1m 3m 5m 10m 15m 30m 1h 4h 1d. Upbit has no candle for an interval
    without trades, so fewer rows than ``count`` is normal for quiet markets.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r} must be one of {', '.join(INTERVALS)}")
    if count < 1:
        raise ValueError(f"count {count} must be at least 1")
    rules = await _instrument(symbol, rest_url, instrument)
    path = f"/candles/minutes/{MINUTE_INTERVALS[interval]}" if interval != "1d" else "/candles/days"
    rows: list[dict[str, Any]] = []
    to_text = _iso(to_ns) if to_ns is not None else None
    rest = UpbitRest(rest_url)
    try:
        while len(rows) < count:
            params = {"market": symbol, "count": str(min(CANDLE_PAGE, count - len(rows)))}
            if to_text is not None:
                params["to"] = to_text
            page = await rest.public(path, params)
            if not page:
                break
            rows.extend(_candle(item, rules) for item in page)
            to_text = str(page[-1]["candle_date_time_utc"]) + "Z"
            if on_progress is not None:
                on_progress(len(rows), count)
            if len(page) < int(params["count"]):
                break
    finally:
        await rest.close()
    frame = pl.DataFrame(rows, schema=CANDLE_SCHEMA, orient="row")
    return frame.unique("ts_open", keep="first").sort("ts_open")


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _candle(item: dict[str, Any], rules: Instrument) -> dict[str, Any]:
    opened = datetime.fromisoformat(str(item["candle_date_time_utc"])).replace(tzinfo=UTC)
    price_precision, size_precision = rules.price_precision, rules.size_precision
    return {
        "ts_open": int(opened.timestamp()) * 1_000_000_000,
        "open": _raw(item["opening_price"], price_precision),
        "high": _raw(item["high_price"], price_precision),
        "low": _raw(item["low_price"], price_precision),
        "close": _raw(item["trade_price"], price_precision),
        "volume": _raw(item["candle_acc_trade_volume"], size_precision),
        "value": float(item["candle_acc_trade_price"]),
    }


async def recent_trades(
    symbol: str,
    count: int = 500,
    *,
    rest_url: str = DEFAULT_REST_URL,
    instrument: Instrument | None = None,
    on_progress: Progress | None = None,
) -> pl.DataFrame:
    """The last ``count`` trades of ``symbol`` (Upbit keeps about a week), oldest first."""
    if count < 1:
        raise ValueError(f"count {count} must be at least 1")
    rules = await _instrument(symbol, rest_url, instrument)
    rows: list[tuple[int, int, int, int, int]] = []
    cursor: int | None = None
    rest = UpbitRest(rest_url)
    try:
        while len(rows) < count:
            params = {"market": symbol, "count": str(min(TRADE_PAGE, count - len(rows)))}
            if cursor is not None:
                params["cursor"] = str(cursor)
            page = await rest.public("/trades/ticks", params)
            if not page:
                break
            for item in page:
                rows.append(
                    (
                        int(item["timestamp"]) * 1_000_000,
                        _raw(item["trade_price"], rules.price_precision),
                        _raw(item["trade_volume"], rules.size_precision),
                        BID if item["ask_bid"] == "BID" else ASK,
                        int(item["sequential_id"]),
                    )
                )
            cursor = min(int(item["sequential_id"]) for item in page)
            if on_progress is not None:
                on_progress(len(rows), count)
            if len(page) < int(params["count"]):
                break
    finally:
        await rest.close()
    frame = pl.DataFrame(rows, schema=TRADE_SCHEMA, orient="row")
    return frame.unique("sequential_id", keep="first").sort("ts_event", "sequential_id")
