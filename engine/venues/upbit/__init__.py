"""Upbit (KRW market): feed, signed execution, downloads and a loopback protocol server.

Instrument ids are ``KRW-BTC.UPBIT``. Every base URL is a constructor argument, so config can
point the adapter at a proxy or at :class:`~engine.venues.upbit.loopback.UpbitLoopback`.
"""

from __future__ import annotations

from engine.venues.upbit.feed import DEFAULT_REST_URL, DEFAULT_WS_URL, UpbitFeed
from engine.venues.upbit.history import download_candles, recent_trades
from engine.venues.upbit.orders import UpbitOrderClient
from engine.venues.upbit.rules import VENUE

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "VENUE",
    "UpbitFeed",
    "UpbitOrderClient",
    "download_candles",
    "recent_trades",
]
