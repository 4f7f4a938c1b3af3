"""Helpers for the Kiwoom adapter tests: a loopback server, a sink that keeps books, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from engine.config.secrets import Secret
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.venues.base import FeedSink
from engine.venues.kiwoom.loopback import KiwoomLoopback

APP_KEY = "kiwoom-test-app-key-8b1f0c"
SECRET_KEY = "kiwoom-test-secret-4d2e9a"
SYMBOLS = ["005930", "000660", "035720"]


def credentials() -> dict[str, Secret]:
    return {"app_key": Secret(APP_KEY), "secret_key": Secret(SECRET_KEY)}


@asynccontextmanager
async def loopback(**options: Any) -> AsyncIterator[KiwoomLoopback]:
    options.setdefault("symbols", SYMBOLS)
    options.setdefault("rate", 400.0)
    server = KiwoomLoopback(seed=11, api_key=APP_KEY, api_secret=SECRET_KEY, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class BookSink:
    """A FeedSink whose events are replayed into per-instrument books and kept in order."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.sink = FeedSink(ids.index, self._wake)
        self.events: list[tuple[int, str, int, int, int, int]] = []
        self.books: dict[str, tuple[dict[int, int], dict[int, int]]] = {i: ({}, {}) for i in ids}

    def _wake(self) -> None:
        self.drain()

    def drain(self) -> None:
        batch = self.sink.take()
        for kind, index, side, price, size, ts in zip(
            batch.kind, batch.instrument, batch.side, batch.price, batch.size, batch.ts_event,
            strict=True,
        ):  # fmt: skip
            instrument_id = self.ids[index]
            self.events.append((kind, instrument_id, side, price, size, ts))
            bids, asks = self.books[instrument_id]
            if kind == BOOK_CLEAR:
                bids.clear()
                asks.clear()
            elif kind == BOOK_LEVEL:
                levels = bids if side == BID else asks
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)

    def trades(self, instrument_id: str | None = None) -> list[tuple[int, str, int, int, int, int]]:
        return [e for e in self.events if e[0] == TRADE and instrument_id in (None, e[1])]

    def top(self, instrument_id: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self.books[instrument_id]
        return sorted(bids.items(), reverse=True), sorted(asks.items())


async def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


__all__ = ["ASK", "BID", "BOOK_CLEAR", "BOOK_LEVEL", "TRADE"]
