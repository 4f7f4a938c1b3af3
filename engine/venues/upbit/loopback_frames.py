"""The loopback's Upbit messages: WebSocket frames (DEFAULT and SIMPLE) and quotation replies.

Field names, layouts and number types follow protocols.md §A.2 and §A.10: the quotation API and
the socket carry prices and sizes as JSON numbers; the SIMPLE format renames every key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from engine.domain.fixed_point import raw_to_float
from engine.domain.market_data import ASK, BID
from engine.venues.upbit.loopback_market import ASK_BID, LoopbackMarket, TradeRecord

KST = timedelta(hours=9)

SIMPLE_KEYS = {
    "type": "ty",
    "code": "cd",
    "trade_price": "tp",
    "trade_volume": "tv",
    "ask_bid": "ab",
    "prev_closing_price": "pcp",
    "change": "c",
    "change_price": "cp",
    "trade_date": "td",
    "trade_time": "ttm",
    "trade_timestamp": "ttms",
    "timestamp": "tms",
    "sequential_id": "sid",
    "best_ask_price": "bap",
    "best_ask_size": "bas",
    "best_bid_price": "bbp",
    "best_bid_size": "bbs",
    "stream_type": "st",
    "total_ask_size": "tas",
    "total_bid_size": "tbs",
    "orderbook_units": "obu",
    "level": "lv",
    "ask_price": "ap",
    "bid_price": "bp",
    "ask_size": "as",
    "bid_size": "bs",
}


def encode(message: dict[str, Any], wire_format: str) -> bytes:
    """The frame bytes of a DEFAULT-keyed message in ``wire_format``."""
    if wire_format == "SIMPLE":
        message = abbreviated(message, SIMPLE_KEYS)
    return msgspec.json.encode(message)


def abbreviated(value: Any, keys: dict[str, str]) -> Any:
    """``value`` with every dict key found in ``keys`` renamed (the SIMPLE format), at any depth."""
    if isinstance(value, dict):
        return {keys.get(key, key): abbreviated(item, keys) for key, item in value.items()}
    if isinstance(value, list):
        return [abbreviated(item, keys) for item in value]
    return value


def utc(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC)


def _change(price: float, prev_close: float) -> tuple[str, float]:
    if price > prev_close:
        return "RISE", price - prev_close
    if price < prev_close:
        return "FALL", prev_close - price
    return "EVEN", 0.0


def _float(market: LoopbackMarket, position: int, raw: int, *, size: bool = False) -> float:
    instrument = market.instruments[position]
    return raw_to_float(raw, instrument.size_precision if size else instrument.price_precision)


def trade_message(
    market: LoopbackMarket, trade: TradeRecord, skew_ns: int, stream_type: str
) -> dict[str, Any]:
    position = trade.position
    price = _float(market, position, trade.price_raw)
    prev_close = _float(market, position, market.prev_close_raw(position))
    change, change_price = _change(price, prev_close)
    best_bid, bid_size, best_ask, ask_size = market.best(position)
    ts = trade.ts_ns + skew_ns
    when = utc(ts)
    return {
        "type": "trade",
        "code": market.symbols[position],
        "trade_price": price,
        "trade_volume": _float(market, position, trade.size_raw, size=True),
        "ask_bid": ASK_BID[trade.side],
        "prev_closing_price": prev_close,
        "change": change,
        "change_price": change_price,
        "trade_date": when.strftime("%Y-%m-%d"),
        "trade_time": when.strftime("%H:%M:%S"),
        "trade_timestamp": ts // 1_000_000,
        "timestamp": ts // 1_000_000,
        "sequential_id": trade.sequential_id,
        "best_ask_price": _float(market, position, best_ask),
        "best_ask_size": _float(market, position, ask_size, size=True),
        "best_bid_price": _float(market, position, best_bid),
        "best_bid_size": _float(market, position, bid_size, size=True),
        "stream_type": stream_type,
    }


def orderbook_message(
    market: LoopbackMarket, position: int, depth: int, ts_ns: int, stream_type: str | None
) -> dict[str, Any]:
    """One market's top-``depth`` book; ``stream_type`` None gives the REST layout."""
    bids = market.levels(position, BID, depth)
    asks = market.levels(position, ASK, depth)
    units = []
    for level in range(max(len(bids), len(asks))):
        ask_price, ask_size = asks[level] if level < len(asks) else (0, 0)
        bid_price, bid_size = bids[level] if level < len(bids) else (0, 0)
        units.append(
            {
                "ask_price": _float(market, position, ask_price),
                "bid_price": _float(market, position, bid_price),
                "ask_size": _float(market, position, ask_size, size=True),
                "bid_size": _float(market, position, bid_size, size=True),
            }
        )
    message: dict[str, Any] = {
        "type": "orderbook",
        "code": market.symbols[position],
        "timestamp": ts_ns // 1_000_000,
        "total_ask_size": sum(unit["ask_size"] for unit in units),
        "total_bid_size": sum(unit["bid_size"] for unit in units),
        "orderbook_units": units,
        "level": 0,
    }
    if stream_type is None:
        del message["type"]
        message["market"] = message.pop("code")
    else:
        message["stream_type"] = stream_type
    return message


def ticker_reply(market: LoopbackMarket, position: int, ts_ns: int) -> dict[str, Any]:
    """``GET /v1/ticker`` item (the fields STOM and common clients read)."""
    price = _float(market, position, market.last_price_raw(position))
    prev_close = _float(market, position, market.prev_close_raw(position))
    change, change_price = _change(price, prev_close)
    tape = market.tape[position]
    last = tape[-1] if tape else None
    when = utc(last.ts_ns if last else ts_ns)
    volume = sum(_float(market, position, t.size_raw, size=True) for t in tape)
    return {
        "market": market.symbols[position],
        "trade_date": when.strftime("%Y%m%d"),
        "trade_time": when.strftime("%H%M%S"),
        "trade_timestamp": (last.ts_ns if last else ts_ns) // 1_000_000,
        "opening_price": prev_close,
        "trade_price": price,
        "prev_closing_price": prev_close,
        "change": change,
        "change_price": change_price,
        "signed_change_price": change_price if change != "FALL" else -change_price,
        "change_rate": change_price / prev_close if prev_close else 0.0,
        "trade_volume": _float(market, position, last.size_raw, size=True) if last else 0.0,
        "acc_trade_volume_24h": volume,
        "timestamp": ts_ns // 1_000_000,
    }


def tick_reply(market: LoopbackMarket, trade: TradeRecord, skew_ns: int) -> dict[str, Any]:
    """``GET /v1/trades/ticks`` item."""
    position = trade.position
    ts = trade.ts_ns + skew_ns
    when = utc(ts)
    price = _float(market, position, trade.price_raw)
    prev_close = _float(market, position, market.prev_close_raw(position))
    return {
        "market": market.symbols[position],
        "trade_date_utc": when.strftime("%Y-%m-%d"),
        "trade_time_utc": when.strftime("%H:%M:%S"),
        "timestamp": ts // 1_000_000,
        "trade_price": price,
        "trade_volume": _float(market, position, trade.size_raw, size=True),
        "prev_closing_price": prev_close,
        "change_price": price - prev_close,
        "ask_bid": ASK_BID[trade.side],
        "sequential_id": trade.sequential_id,
    }


def candles_reply(
    market: LoopbackMarket,
    position: int,
    unit_s: int,
    to_ns: int,
    count: int,
    skew_ns: int,
    minutes: int | None,
) -> list[dict[str, Any]]:
    """Candles of ``unit_s`` seconds that end before ``to_ns`` (venue time), newest first.

    Only intervals with trades exist, as on Upbit.
    """
    unit_ns = unit_s * 1_000_000_000
    buckets: dict[int, list[TradeRecord]] = {}
    for trade in reversed(market.tape[position]):
        ts = trade.ts_ns + skew_ns
        start = ts - ts % unit_ns
        if ts >= to_ns:
            continue
        if start not in buckets and len(buckets) >= count:
            break
        buckets.setdefault(start, []).append(trade)
    candles = []
    for start in sorted(buckets, reverse=True):
        trades = buckets[start][::-1]  # oldest first
        prices = [_float(market, position, t.price_raw) for t in trades]
        volume = sum(_float(market, position, t.size_raw, size=True) for t in trades)
        value = sum(
            _float(market, position, t.price_raw) * _float(market, position, t.size_raw, size=True)
            for t in trades
        )
        opened = utc(start)
        candle: dict[str, Any] = {
            "market": market.symbols[position],
            "candle_date_time_utc": opened.strftime("%Y-%m-%dT%H:%M:%S"),
            "candle_date_time_kst": (opened + KST).strftime("%Y-%m-%dT%H:%M:%S"),
            "opening_price": prices[0],
            "high_price": max(prices),
            "low_price": min(prices),
            "trade_price": prices[-1],
            "timestamp": (trades[-1].ts_ns + skew_ns) // 1_000_000,
            "candle_acc_trade_price": value,
            "candle_acc_trade_volume": volume,
        }
        if minutes is not None:
            candle["unit"] = minutes
        candles.append(candle)
    return candles
