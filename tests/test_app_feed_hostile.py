"""The console's feed survives any message (issue 12, finding 7), on a real Mosquitto.

Before: one deeply nested message on any subscribed topic raised a RecursionError out of the
feed's reader; the feed died for good ("OFFLINE no heartbeat" beside "feed connected", no way
to send ``kill``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomqtt
import pytest
from textual.message import Message

from engine.config.settings import BusSettings, Settings
from engine.protocol import codec
from engine.protocol.payloads import LogEvent
from stom_tui.feed import MqttFeed
from stom_tui.messages import FeedConnectionChanged, LogReceived, PayloadMalformed
from tests.support.brokers import Broker

pytestmark = pytest.mark.integration


class Recorder:
    """Stands in for the app: keeps what the feed posts (optionally failing once)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()
        self.fail_on: str | None = None

    def post_message(self, message: Message) -> bool:
        if isinstance(message, LogReceived) and message.event.message == self.fail_on:
            self.fail_on = None
            raise RuntimeError("a bug in the app's handling")
        self.messages.append(message)
        self.arrived.set()
        return True

    def logs(self) -> list[str]:
        return [m.event.message for m in self.messages if isinstance(m, LogReceived)]

    async def until(self, check: object, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():  # type: ignore[operator]
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), 0.1)


@pytest.fixture
async def running(mosquitto: Broker) -> AsyncIterator[tuple[MqttFeed, Recorder]]:
    settings = Settings(bus=BusSettings(namespace="hostile", keepalive_s=2))
    feed = MqttFeed(settings, host=mosquitto.host, port=mosquitto.port)
    app = Recorder()
    task = asyncio.create_task(feed.run(app))  # type: ignore[arg-type]
    await app.until(lambda: any(isinstance(m, FeedConnectionChanged) for m in app.messages))
    yield feed, app
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def log(text: str, seq: int) -> bytes:
    return codec.encode(LogEvent(ts=1, seq=seq, level="info", source="t", message=text))


async def test_deeply_nested_and_huge_messages_are_reported_and_the_feed_goes_on(
    running: tuple[MqttFeed, Recorder], mosquitto: Broker
) -> None:
    feed, app = running
    topics = feed.topics
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish(topics.log, b'{"v":' * 2000 + b"1" + b"}" * 2000, qos=1)
        await client.publish(topics.orders, b"[" * 100_000 + b"]" * 100_000, qos=1)
        await client.publish(topics.risk, b'"' + b"\\ud800" * 10 + b'"', qos=1)
        await client.publish(topics.log, log("still here", 1), qos=1)
        await app.until(lambda: "still here" in app.logs())
    malformed = {m.topic: m.error for m in app.messages if isinstance(m, PayloadMalformed)}
    assert set(malformed) == {topics.log, topics.orders, topics.risk}
    assert malformed[topics.log] == "limit: payload nests deeper than the limit of 32 levels"
    assert malformed[topics.orders] == "limit: payload nests deeper than the limit of 32 levels"
    assert malformed[topics.risk].startswith("malformed JSON")
    assert feed.connected


async def test_an_unexpected_error_ends_the_session_and_the_feed_reconnects(
    running: tuple[MqttFeed, Recorder], mosquitto: Broker
) -> None:
    feed, app = running
    app.fail_on = "boom"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish(feed.topics.log, log("boom", 1), qos=1)
        await app.until(
            lambda: any(
                isinstance(m, FeedConnectionChanged) and not m.connected for m in app.messages
            )
        )
        down = next(
            m for m in app.messages if isinstance(m, FeedConnectionChanged) and not m.connected
        )
        assert down.reason == "feed error (RuntimeError); reconnecting"
        await app.until(lambda: feed.connected)
        await client.publish(feed.topics.log, log("after", 2), qos=1)
        await app.until(lambda: "after" in app.logs())
