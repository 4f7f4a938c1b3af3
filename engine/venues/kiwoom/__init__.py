"""Kiwoom Securities REST API adapter: KRX stocks (``005930.KRX``) on Linux, no COM control.

- :class:`KiwoomFeed`: instrument rules (``ka10001``) and the realtime WebSocket (``0B`` trades,
  ``0D`` ten-level books) with reconnect, PING echo and loss detection.
- :class:`KiwoomOrderClient`: orders (``kt10000``-``kt10003``), order state (``ka10075``,
  ``ka10076``) and balances (``kt00001``, ``kt00018``).
- :func:`download_candles`, :func:`recent_trades`: history for ``stom data download``.
- ``loopback.KiwoomLoopback``: the protocol server on loopback for tests and ``stom demo``.

Every base URL is a constructor argument; the defaults are the real hosts, the ``MOCK_*`` ones
Kiwoom's paper-trading (모의투자) hosts, which need their own app key.
"""

from __future__ import annotations

from engine.venues.kiwoom.feed import KiwoomFeed
from engine.venues.kiwoom.history import download_candles, recent_trades
from engine.venues.kiwoom.orders import KiwoomOrderClient

DEFAULT_REST_URL = "https://api.kiwoom.com"
DEFAULT_WS_URL = "wss://api.kiwoom.com:10000/api/dostk/websocket"
MOCK_REST_URL = "https://mockapi.kiwoom.com"
MOCK_WS_URL = "wss://mockapi.kiwoom.com:10000/api/dostk/websocket"

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "MOCK_REST_URL",
    "MOCK_WS_URL",
    "KiwoomFeed",
    "KiwoomOrderClient",
    "download_candles",
    "recent_trades",
]
