"""Binance spot base URLs (protocols.md §B.1). Every one can be overridden in config."""

from __future__ import annotations

DEFAULT_REST_URL = "https://api.binance.com"
"""REST base; python-binance requests ``<base>/api/v3/<path>``."""
DEFAULT_WS_URL = "wss://stream.binance.com:9443"
"""Market streams base; the feed opens ``<base>/stream?streams=…``."""
DEFAULT_WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"
"""WebSocket API (requests and the user data stream); not used by the adapter yet."""
TESTNET_REST_URL = "https://testnet.binance.vision"
TESTNET_WS_URL = "wss://stream.testnet.binance.vision"
