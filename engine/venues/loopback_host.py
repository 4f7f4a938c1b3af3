"""A venue's loopback protocol server in a background thread, for ``stom demo --venue``.

The console runs in the foreground and the engine in its own process; the loopback server needs
its own event loop that outlives neither, so it runs in a daemon thread of the ``stom demo``
process. Keys are fresh random values for each demo (the loopback checks signatures like the
venue does); they reach the engine through its environment, as real keys would.
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from engine.venues.registry import SPECS

LOOPBACK_CLASSES = {
    "upbit": "UpbitLoopback",
    "binance": "BinanceLoopback",
    "kiwoom": "KiwoomLoopback",
}
DEMO_SYMBOLS = {
    "upbit": ["KRW-BTC", "KRW-ETH", "KRW-XRP"],
    "binance": ["BTCUSDT", "ETHUSDT"],
    "kiwoom": ["005930", "000660", "035720"],
}


@dataclass(frozen=True)
class LoopbackInfo:
    venue: str
    rest_url: str
    ws_url: str
    symbols: list[str]
    keys: dict[str, str]
    """Credentials by the venue's key names (``access_key`` …): demo values, loopback only."""


class LoopbackHost:
    """Starts ``<Venue>Loopback`` on its own event loop in a thread; :meth:`stop` ends it."""

    def __init__(self, venue: str, *, seed: int = 7, symbols: list[str] | None = None) -> None:
        if venue not in LOOPBACK_CLASSES:
            raise ValueError(f"no loopback server for {venue!r} (venues: {', '.join(SPECS)})")
        self.venue = venue
        self.seed = seed
        self.symbols = symbols or DEMO_SYMBOLS[venue]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def start(self, timeout: float = 30.0) -> LoopbackInfo:
        spec = SPECS[self.venue]
        module = importlib.import_module(f"engine.venues.{self.venue}.loopback")
        api_key, api_secret = secrets.token_hex(16), secrets.token_hex(32)
        self._server = getattr(module, LOOPBACK_CLASSES[self.venue])(
            seed=self.seed, symbols=self.symbols, api_key=api_key, api_secret=api_secret
        )
        self._thread.start()
        self._run(self._server.start(), timeout)
        return LoopbackInfo(
            venue=self.venue,
            rest_url=str(self._server.rest_url),
            ws_url=str(self._server.ws_url),
            symbols=list(self.symbols),
            keys=dict(zip(spec.key_names, (api_key, api_secret), strict=True)),
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None and self._thread.is_alive():
            try:
                self._run(self._server.stop(), timeout)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout)

    def _run(self, coroutine: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)
