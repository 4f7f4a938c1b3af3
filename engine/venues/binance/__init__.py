"""Binance spot: market data, instrument rules, signed orders, history, and a loopback server.

- :class:`BinanceFeed` — trades and L2 books over one combined WebSocket stream, books kept by
  the official snapshot + diff procedure (:mod:`.feed`, :mod:`.depth_sync`).
- :class:`BinanceOrderClient` — place, cancel, query, open orders, balances over signed REST
  through python-binance (:mod:`.order_client`, :mod:`.rest`).
- :func:`download_candles`, :func:`recent_trades` — public history as polars DataFrames.
- :class:`BinanceLoopback` (:mod:`.loopback`) — the protocol-faithful test and demo server.

Instrument ids are ``SYMBOL.BINANCE`` (``BTCUSDT.BINANCE``). Every URL is a constructor argument.
"""

from engine.venues.binance.endpoints import (
    DEFAULT_REST_URL,
    DEFAULT_WS_API_URL,
    DEFAULT_WS_URL,
    TESTNET_REST_URL,
    TESTNET_WS_URL,
)
from engine.venues.binance.feed import BinanceFeed
from engine.venues.binance.history import download_candles, recent_trades
from engine.venues.binance.instruments import VENUE
from engine.venues.binance.order_client import BinanceOrderClient

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_API_URL",
    "DEFAULT_WS_URL",
    "TESTNET_REST_URL",
    "TESTNET_WS_URL",
    "VENUE",
    "BinanceFeed",
    "BinanceOrderClient",
    "download_candles",
    "recent_trades",
]
