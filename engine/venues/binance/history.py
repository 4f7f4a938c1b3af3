"""Public Binance history over REST: candles (``/api/v3/klines``) and recent trades (``/trades``).

Both return polars DataFrames whose prices and sizes are **raw integers at the instrument's
precisions** (as in the tick store; pass the :class:`Instrument`, or it is loaded from
exchangeInfo) and whose timestamps are integer ns UTC:

``download_candles``: ``ts_open``, ``ts_close`` (Int64 ns), ``open``, ``high``, ``low``, ``close``
(Int64 raw price), ``volume``, ``taker_buy_volume`` (Int64 raw size), ``quote_volume`` (Utf8,
exact decimal text), ``trades`` (Int64), oldest first, one row per interval that had trades.

``recent_trades``: ``trade_id`` (Int64), ``ts_event`` (Int64 ns), ``price`` (Int64 raw),
``size`` (Int64 raw), ``side`` (Int8: 0 = buyer-initiated, 1 = seller-initiated), oldest first.

Rate limits are honoured: a :class:`VenueUnavailable` waits out its ``retry_after_s`` and the
request is sent again (up to ``MAX_ATTEMPTS`` times).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import polars as pl

from engine.backoff import Backoff, retry
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID
from engine.venues.base import VenueUnavailable, retry_after_of
from engine.venues.binance.endpoints import DEFAULT_REST_URL
from engine.venues.binance.instruments import instruments_from_exchange_info
from engine.venues.binance.rest import BinanceRest
from engine.venues.binance.wire import decimal_to_raw

NS_PER_MS = 1_000_000
KLINES_PER_REQUEST = 1000
MAX_ATTEMPTS = 5
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")

CANDLE_SCHEMA: dict[str, pl.DataType] = {
    "ts_open": pl.Int64(),
    "ts_close": pl.Int64(),
    "open": pl.Int64(),
    "high": pl.Int64(),
    "low": pl.Int64(),
    "close": pl.Int64(),
    "volume": pl.Int64(),
    "taker_buy_volume": pl.Int64(),
    "quote_volume": pl.String(),
    "trades": pl.Int64(),
}
TRADE_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.Int64(),
    "ts_event": pl.Int64(),
    "price": pl.Int64(),
    "size": pl.Int64(),
    "side": pl.Int8(),
}


async def download_candles(
    symbol: str,
    interval: str = "1m",
    count: int | None = None,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    rest_url: str = DEFAULT_REST_URL,
    instrument: Instrument | None = None,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Candles of ``symbol``, oldest first.

    From ``start_ns`` forwards (to ``end_ns``, or now) when it is given, else the latest
    ``count`` (default 1,000) ending at ``end_ns``; ``count`` caps the rows either way. Pages of
    1,000 are fetched as needed; ``progress`` gets the number of rows fetched after each page.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    wanted = count if count is not None else (None if start_ns is not None else KLINES_PER_REQUEST)
    if wanted is not None and wanted <= 0:
        raise ValueError(f"count {count} must be positive")
    rest = BinanceRest(rest_url)
    try:
        instrument = instrument or await _instrument(rest, symbol)
        base: dict[str, Any] = {"symbol": symbol, "interval": interval}
        if start_ns is not None:
            pages = _forward(rest, base, start_ns // NS_PER_MS, end_ns, wanted)
        else:
            pages = _backward(rest, base, end_ns, wanted or KLINES_PER_REQUEST)
        klines: list[list[Any]] = []
        async for page in pages:
            klines += page
            if progress is not None:
                progress(len(klines))
        klines.sort(key=lambda k: int(k[0]))
        pp, sp = instrument.price_precision, instrument.size_precision
        rows = [_candle_row(k, pp, sp) for k in klines[-wanted if wanted else 0 :]]
        return pl.DataFrame(rows, schema=CANDLE_SCHEMA, orient="row")
    finally:
        await rest.close()


async def _forward(
    rest: BinanceRest, base: dict[str, Any], start_ms: int, end_ns: int | None, wanted: int | None
) -> AsyncIterator[list[list[Any]]]:
    fetched = 0
    while wanted is None or fetched < wanted:
        params = base | {"startTime": start_ms, "limit": _page(wanted, fetched)}
        if end_ns is not None:
            params["endTime"] = end_ns // NS_PER_MS
        page = await _retrying(rest, rest.client.get_klines, 2, params)
        if page:
            yield page
        fetched += len(page)
        if len(page) < params["limit"]:
            return
        start_ms = int(page[-1][0]) + 1


async def _backward(
    rest: BinanceRest, base: dict[str, Any], end_ns: int | None, wanted: int
) -> AsyncIterator[list[list[Any]]]:
    fetched = 0
    end_ms = None if end_ns is None else end_ns // NS_PER_MS
    while fetched < wanted:
        params = base | {"limit": _page(wanted, fetched)}
        if end_ms is not None:
            params["endTime"] = end_ms
        page = await _retrying(rest, rest.client.get_klines, 2, params)
        if page:
            yield page
        fetched += len(page)
        if len(page) < params["limit"]:
            return
        end_ms = int(page[0][0]) - 1


def _page(wanted: int | None, fetched: int) -> int:
    return KLINES_PER_REQUEST if wanted is None else min(KLINES_PER_REQUEST, wanted - fetched)


async def recent_trades(
    symbol: str,
    *,
    limit: int = 500,
    rest_url: str = DEFAULT_REST_URL,
    instrument: Instrument | None = None,
) -> pl.DataFrame:
    """The latest ``limit`` (≤ 1,000) public trades of ``symbol``."""
    rest = BinanceRest(rest_url)
    try:
        instrument = instrument or await _instrument(rest, symbol)
        pp, sp = instrument.price_precision, instrument.size_precision
        page = await _retrying(
            rest, rest.client.get_recent_trades, 25, {"symbol": symbol, "limit": min(limit, 1000)}
        )
        rows = [
            (
                int(t["id"]),
                int(t["time"]) * NS_PER_MS,
                decimal_to_raw(t["price"], pp),
                decimal_to_raw(t["qty"], sp),
                ASK if t["isBuyerMaker"] else BID,
            )
            for t in page
        ]
        return pl.DataFrame(rows, schema=TRADE_SCHEMA, orient="row")
    finally:
        await rest.close()


def _candle_row(k: list[Any], pp: int, sp: int) -> tuple[Any, ...]:
    return (
        int(k[0]) * NS_PER_MS,
        int(k[6]) * NS_PER_MS,
        decimal_to_raw(k[1], pp),
        decimal_to_raw(k[2], pp),
        decimal_to_raw(k[3], pp),
        decimal_to_raw(k[4], pp),
        decimal_to_raw(k[5], sp),
        decimal_to_raw(k[9], sp),
        str(k[7]),
        int(k[8]),
    )


async def _instrument(rest: BinanceRest, symbol: str) -> Instrument:
    info = await _retrying(rest, rest.client.get_exchange_info, 20, {})
    return instruments_from_exchange_info(info, [symbol])[0]


async def _retrying(
    rest: BinanceRest, method: Callable[..., Awaitable[Any]], weight: int, params: dict[str, Any]
) -> Any:
    # Waits only what the venue asks (its Retry-After): a bounded request retry.
    return await retry(
        lambda: rest.call(method, weight=weight, **params),
        attempts=MAX_ATTEMPTS,
        backoff=Backoff(0, 0),
        retryable=(VenueUnavailable,),
        retry_after=retry_after_of,
    )
