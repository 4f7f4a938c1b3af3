"""MqttFeed against real brokers (embedded amqtt and Mosquitto), driving the real app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import aiomqtt
import msgspec
import pytest
from textual.pilot import Pilot

from engine.config.settings import BusSettings, Settings
from engine.protocol import codec
from engine.protocol.payloads import (
    BarUpdate,
    BookSnapshot,
    Command,
    EngineStats,
    EngineStatus,
    Instruments,
    Reply,
    Tickers,
)
from engine.protocol.topics import Topics
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from tests.fixtures.market_payloads import snapshot_payloads
from tests.support.brokers import Broker

pytestmark = pytest.mark.integration

WAIT_S = 15.0


def _settings() -> tuple[Settings, Topics]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    return Settings(bus=BusSettings(namespace=namespace)), Topics(namespace)


def _first(kind: type, **match: str) -> msgspec.Struct:
    return next(
        p
        for p in snapshot_payloads()
        if isinstance(p, kind) and all(getattr(p, k) == v for k, v in match.items())
    )


@asynccontextmanager
async def _client(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"t-{uuid.uuid4().hex}") as c:
        yield c


async def _wait_until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Real broker, real time: poll in short pauses up to a bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def _stats_now() -> EngineStats:
    stats = _first(EngineStats)
    assert isinstance(stats, EngineStats)
    return stats


async def _publish_market(broker: Broker, topics: Topics, btc_last: str | None = None) -> None:
    tickers = _first(Tickers)
    assert isinstance(tickers, Tickers)
    if btc_last is not None:
        btc = msgspec.structs.replace(tickers.tickers[0], last=btc_last)
        tickers = msgspec.structs.replace(tickers, tickers=[btc, *tickers.tickers[1:]])
    async with _client(broker) as pub:
        await pub.publish(topics.status, codec.encode(_first(EngineStatus)), qos=1, retain=True)
        await pub.publish(topics.instruments, codec.encode(_first(Instruments)), qos=1, retain=True)
        await pub.publish(topics.tickers, codec.encode(tickers), qos=1, retain=True)
        for instrument_id in ("KRW-BTC.SIM", "KRW-ETH.SIM"):
            book = _first(BookSnapshot, id=instrument_id)
            await pub.publish(topics.book(instrument_id), codec.encode(book), qos=1, retain=True)


async def _publish(broker: Broker, topic: str, data: bytes) -> None:
    async with _client(broker) as pub:
        await pub.publish(topic, data, qos=1)


async def test_feed_shows_engine_data_follows_selection_and_survives_a_broker_restart(
    broker: Broker,
) -> None:
    settings, topics = _settings()
    await _publish_market(broker, topics)
    feed = MqttFeed(settings, host=broker.host, port=broker.port)
    app = StomApp(settings, feed, broker_label=feed.broker_label)
    async with app.run_test(size=(160, 48)) as pilot:
        await _wait_until(pilot, lambda: app.trading.book is not None)
        assert app.watchlist.row_count == 6
        assert app.trading.book is not None and app.trading.book.id == "KRW-BTC.SIM"
        await _publish(broker, topics.stats, codec.encode(_stats_now()))
        await _wait_until(pilot, lambda: app.presence.stats is not None)
        assert app.status_line.render().plain.startswith(" RUNNING ")

        # Only the selected instrument's book is subscribed; selecting another follows it.
        await pilot.press("down")
        await _wait_until(pilot, lambda: getattr(app.trading.book, "id", "") == "KRW-ETH.SIM")
        # The old instrument is unsubscribed: its books no longer reach the app at all.
        books_before = app.metrics.handled["BookUpdated"]
        async with _client(broker) as pub:
            for instrument_id, seq in (("KRW-BTC.SIM", 77_777), ("KRW-ETH.SIM", 88_888)):
                book = msgspec.structs.replace(_first(BookSnapshot, id=instrument_id), seq=seq)
                await pub.publish(topics.book(instrument_id), codec.encode(book), qos=1)
        await _wait_until(pilot, lambda: getattr(app.trading.book, "seq", 0) == 88_888)
        assert app.metrics.handled["BookUpdated"] == books_before + 1

        await _publish(broker, topics.tickers, b'{"v": 1, "ts": "not a number"')
        await _wait_until(pilot, lambda: app.metrics.malformed == 1)

        await asyncio.to_thread(broker.stop)
        await _wait_until(pilot, lambda: app.status_line.has_class("-disconnected"))
        await asyncio.to_thread(broker.start)
        await _wait_until(pilot, lambda: feed.connected)
        await _wait_until(pilot, lambda: not app.status_line.has_class("-disconnected"))

        await _publish_market(broker, topics, btc_last="143999000")
        cell = lambda: app.watchlist.get_cell("KRW-BTC.SIM", "last").plain  # noqa: E731
        await _wait_until(pilot, lambda: cell() == "143,999,000")
        # Resubscribed to the selected instrument after the reconnect.
        assert app.selected_instrument == "KRW-ETH.SIM"
        eth_book = msgspec.structs.replace(_first(BookSnapshot, id="KRW-ETH.SIM"), seq=99_999)
        await _publish(broker, topics.book("KRW-ETH.SIM"), codec.encode(eth_book))
        await _wait_until(pilot, lambda: getattr(app.trading.book, "seq", 0) == 99_999)


async def _answer_commands(broker: Broker, topics: Topics, ready: asyncio.Event) -> None:
    async with _client(broker) as responder:
        await responder.subscribe(topics.commands, qos=1)
        ready.set()
        async for message in responder.messages:
            assert isinstance(message.payload, bytes)
            command = codec.decode(message.payload, Command)
            reply = Reply(
                id=command.id,
                type=command.type,
                status="accepted",
                ts=1,
                result={"echo": command.args},
            )
            await responder.publish(command.reply_to, codec.encode(reply), qos=1)


async def test_request_gets_its_reply_or_times_out(broker: Broker) -> None:
    settings, topics = _settings()
    feed = MqttFeed(settings, host=broker.host, port=broker.port, client_id="app-test")
    assert feed.reply_topic == topics.reply("app-test")
    app = StomApp(settings, feed, broker_label=feed.broker_label)
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_until(pilot, lambda: feed.connected)
        with pytest.raises(TimeoutError):
            await feed.request("ping", timeout=0.3)  # nobody answers yet

        ready = asyncio.Event()
        responder = asyncio.create_task(_answer_commands(broker, topics, ready))
        try:
            await asyncio.wait_for(ready.wait(), WAIT_S)
            reply = await feed.request("ping", {"n": 1}, timeout=5.0)
            assert reply.status == "accepted"
            assert reply.type == "ping"
            assert reply.result == {"echo": {"n": 1}}
        finally:
            responder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await responder


def test_the_selected_instrument_follows_bars_of_every_chart_timeframe() -> None:
    settings, topics = _settings()
    feed = MqttFeed(settings, host="127.0.0.1", port=1)
    wanted = {topic for topic, _ in feed._instrument_topics("KRW-BTC.SIM")}
    for timeframe in ("1s", "1m", "5m", "15m"):
        assert topics.bar(timeframe, "KRW-BTC.SIM") in wanted
        assert feed._route(topics.bar(timeframe, "KRW-BTC.SIM")) is BarUpdate
        # Closed bars come from md.history; the retained histories are not followed.
        assert topics.bars(timeframe, "KRW-BTC.SIM") not in wanted
        assert feed._route(topics.bars(timeframe, "KRW-BTC.SIM")) is None
    assert topics.book("KRW-BTC.SIM") in wanted and topics.trades("KRW-BTC.SIM") in wanted


class _PubackAsTheTimeoutFires:
    """A client whose publish ends normally though cancelled: what aiomqtt's publish does on
    Python 3.11 when its PUBACK lands as the caller's cancellation does (``asyncio.wait_for``
    returns the result and drops the cancellation)."""

    async def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        with suppress(asyncio.CancelledError):
            await asyncio.sleep(1.0)


async def test_a_request_times_out_even_when_the_publish_swallows_the_cancellation() -> None:
    settings, _ = _settings()
    feed = MqttFeed(settings, host="127.0.0.1", port=1)
    feed._client = _PubackAsTheTimeoutFires()  # type: ignore[assignment]
    feed._connected.set()
    request = asyncio.ensure_future(feed.request("ping", timeout=0.3))
    done, _ = await asyncio.wait({request}, timeout=3.0)
    if not done:
        request.cancel()
    assert done, "the request outlived its timeout by more than 2.7 s"
    with pytest.raises(TimeoutError, match="'ping'"):
        request.result()
    assert feed._pending == {}
