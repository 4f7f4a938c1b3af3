"""The console on a real broker with a real engine subprocess (Pilot drives the app).

Run against both brokers STOM supports locally: the embedded amqtt one and a real Mosquitto.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from engine.config.settings import BusSettings, Settings
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace

pytestmark = pytest.mark.integration

KEEPALIVE_S = 2


async def until(pilot: Any, check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cell_text(app: StomApp, instrument_id: str, column: str) -> str:
    return app.watchlist.get_cell(instrument_id, column).plain.strip()


def engine_running(app: StomApp) -> bool:
    health = app.refresh_health()
    return health.state == "running" and not health.offline


def prices(app: StomApp) -> dict[str, str]:
    return {i: cell_text(app, i, "last") for i in app.watchlist.instrument_ids}


async def test_console_follows_engine_death_rebirth_and_broker_restart(broker: Broker) -> None:
    namespace = unique_namespace()
    settings = Settings(
        bus=BusSettings(url=broker.url, namespace=namespace, keepalive_s=KEEPALIVE_S)
    )
    engine = EngineProcess(broker.url, namespace, keepalive=KEEPALIVE_S).start()
    app = StomApp(settings, MqttFeed(settings, host=broker.host, port=broker.port))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            # A living market in the watchlist and the ladder.
            await until(pilot, lambda: len(app.watchlist.instrument_ids) >= 5, 15, "instruments")
            await until(pilot, lambda: all(prices(app).values()), 10, "prices in every row")
            first = prices(app)
            await until(pilot, lambda: prices(app) != first, 10, "a price to change")
            book = await until(pilot, lambda: app.ladder.book, 10, "an order book")
            assert len(book.bids) >= 10 and len(book.asks) >= 10
            seq = book.seq
            await until(pilot, lambda: app.ladder.book.seq > seq, 10, "the book to move")
            assert app.refresh_health().state == "running"

            # kill -9: offline within the keepalive (heartbeat watchdog; the will follows).
            engine.signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await until(pilot, lambda: app.refresh_health().offline, KEEPALIVE_S + 1.5, "offline")
            assert time.monotonic() - killed_at <= KEEPALIVE_S + 1.5
            assert "offline" in str(app.status_line.render()).lower()

            # A new engine brings it back, without restarting the app.
            engine = EngineProcess(broker.url, namespace, keepalive=KEEPALIVE_S).start()
            await until(pilot, lambda: engine_running(app), 20, "the new engine")
            before = prices(app)
            await until(pilot, lambda: prices(app) != before, 10, "prices from the new engine")
            assert app.refresh_health().engine_id is not None

            # A broker restart is survived by both sides.
            broker.stop()
            await until(pilot, lambda: not app.refresh_health().feed_connected, 10, "disconnect")
            await asyncio.sleep(0.3)
            broker.start()
            await until(pilot, lambda: app.refresh_health().feed_connected, 20, "reconnect")
            await until(
                pilot, lambda: engine_running(app), 20, "engine back after the broker restart"
            )
            after = prices(app)
            await until(pilot, lambda: prices(app) != after, 10, "prices after the broker restart")
            assert engine.process is not None and engine.process.poll() is None
            await pilot.press("q")
    finally:
        engine.stop()
