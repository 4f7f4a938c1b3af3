"""The real engine subprocess on real brokers (embedded amqtt and Mosquitto)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import aiomqtt
import msgspec
import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.domain.fixed_point import to_raw
from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS, TickTable
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from tests.support.brokers import Broker, running_broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration


def settings_for(broker: Broker, namespace: str) -> Settings:
    return Settings(bus=BusSettings(url=broker.url, namespace=namespace, keepalive_s=2))


@pytest.fixture
def namespace() -> str:
    return unique_namespace()


@pytest.fixture
def engine(broker: Broker, namespace: str) -> Iterator[EngineProcess]:
    process = EngineProcess(broker.url, namespace).start()
    yield process
    process.stop()


@pytest.fixture
async def observer(broker: Broker, namespace: str) -> AsyncIterator[Observer]:
    async with Observer(broker.host, broker.port, namespace) as watching:
        yield watching


async def test_engine_announces_itself_and_streams_a_living_market(
    engine: EngineProcess, observer: Observer
) -> None:
    status = await observer.wait_status("running")
    assert status.pid == engine.pid and status.venues == ["SIM"]
    topics = observer.topics
    instruments = await observer.wait_for(
        lambda: observer.latest(topics.instruments, p.Instruments)
    )
    ids = [i.id for i in instruments.instruments]
    assert sum(i.kind == "crypto" for i in instruments.instruments) >= 3
    assert sum(i.kind == "stock" for i in instruments.instruments) >= 2
    # Tickers change over time: a living market.
    await observer.wait_for(lambda: len(observer.all(topics.tickers, p.Tickers)) >= 5)
    snapshots = observer.all(topics.tickers, p.Tickers)
    first = {t.id: (t.last, t.bid, t.ask) for t in snapshots[0].tickers}
    await observer.wait_for(
        lambda: any(
            (t.last, t.bid, t.ask) != first[t.id]
            for t in observer.all(topics.tickers, p.Tickers)[-1].tickers
        ),
        what="ticker change",
    )
    # Every book: >= 10 levels a side, not crossed, prices on the venue's tick grid.
    for info in instruments.instruments:
        book = await observer.wait_for(
            lambda i=info: observer.latest(topics.book(i.id), p.BookSnapshot)
        )
        bands = KRX_STOCK_BANDS if info.kind == "stock" else UPBIT_KRW_BANDS
        grid = TickTable.from_decimal(bands, info.price_precision)
        assert len(book.bids) >= 10 and len(book.asks) >= 10, info.id
        assert Decimal(book.bids[0][0]) < Decimal(book.asks[0][0]), info.id
        for price, size in book.bids + book.asks:
            assert grid.is_on_grid(to_raw(price, info.price_precision)), (info.id, price)
            assert Decimal(size) > 0
    assert len(ids) == len(set(ids))


async def test_commands_get_exactly_one_reply_and_bad_ones_are_rejected(
    broker: Broker, namespace: str, engine: EngineProcess, observer: Observer
) -> None:
    await observer.wait_status("running")
    settings = settings_for(broker, namespace)
    async with RemoteEngine(settings, parse_broker_url(broker.url), None) as remote:
        reply = await remote.request("ping")
        assert reply.status == "accepted" and reply.result is not None
        unknown = await remote.request("launch_rockets", {"n": 1})
        assert unknown.status == "rejected"
        assert "unknown command type 'launch_rockets'" in (unknown.reason or "")
        assert "ping" in (unknown.reason or "")
        status = await remote.request("status")
        assert status.result is not None and status.result["status"]["state"] == "running"

        topics = observer.topics
        async with aiomqtt.Client(broker.host, broker.port) as raw:
            # JSON, but not a Command (no type): rejected through its reply_to.
            await raw.subscribe(remote.reply_topic, qos=1)
            bad = {"v": 1, "id": "bad1", "reply_to": remote.reply_topic, "args": []}
            await raw.publish(topics.commands, msgspec.json.encode(bad), qos=1)
            # Not JSON at all: cannot be answered; rejected in the log.
            await raw.publish(topics.commands, b"{not json", qos=1)
            # A reply_to outside the namespace's reply tree is refused (no publish elsewhere).
            hijack = p.Command(id="h1", type="ping", reply_to="elsewhere/topic")
            await raw.publish(topics.commands, encode(hijack), qos=1)

        def rejections() -> list[str] | None:
            messages = [e.message for e in observer.all(topics.log, p.LogEvent)]
            wanted = [
                lambda m: "no reply_to" in m and "{not json" in m,  # not JSON: logged
                lambda m: "malformed command: Command" in m,  # schema error: logged and replied
                lambda m: "reply_to 'elsewhere/topic'" in m,  # hijack attempt: refused
            ]
            return messages if all(any(w(m) for m in messages) for w in wanted) else None

        await observer.wait_for(rejections, what="three rejections in the log")
        await observer.wait_for(
            lambda: any(b'"bad1"' in d for d in observer.messages.get(remote.reply_topic, []))
        )
        replies = [
            msgspec.json.decode(d)
            for d in observer.messages.get(remote.reply_topic, [])
            if b'"bad1"' in d
        ]
        assert len(replies) == 1 and replies[0]["status"] == "rejected"
        assert "malformed command" in replies[0]["reason"]
        # The engine keeps running.
        assert (await remote.request("ping")).status == "accepted"


async def test_sigterm_stops_cleanly(engine: EngineProcess, observer: Observer) -> None:
    await observer.wait_status("running")
    engine.signal(signal.SIGTERM)
    assert await asyncio.to_thread(engine.wait, 10) == 0
    # Published before the engine exited; a loaded broker may deliver it a little later.
    try:
        stopped = await observer.wait_status("stopped", timeout=15)
    except AssertionError:
        print("ENGINE LOG:\n" + engine.log())
        raise
    assert stopped.pid == engine.pid
    assert "Traceback" not in engine.log()


async def test_kill_9_publishes_the_last_will(engine: EngineProcess, observer: Observer) -> None:
    await observer.wait_status("running")
    engine.signal(signal.SIGKILL)
    # keepalive 2 s: the broker sends the will after 1.5 x keepalive.
    status = await observer.wait_status("offline", timeout=8)
    assert status.pid == engine.pid and "last will" in (status.reason or "")


async def test_engine_survives_a_broker_restart(
    broker: Broker, engine: EngineProcess, observer: Observer
) -> None:
    await observer.wait_status("running")
    broker.stop()
    await asyncio.sleep(0.5)
    broker.start()
    observer.messages.clear()
    # The restarted broker lost everything retained: the engine restores it after reconnecting.
    status = await observer.wait_status("running", timeout=20)
    assert status.pid == engine.pid
    topics = observer.topics
    await observer.wait_for(lambda: observer.latest(topics.instruments, p.Instruments), timeout=10)
    await observer.wait_for(lambda: len(observer.all(topics.tickers, p.Tickers)) >= 3)
    assert engine.process is not None and engine.process.poll() is None


async def test_a_second_engine_in_the_same_namespace_is_refused(
    broker: Broker, namespace: str, engine: EngineProcess, observer: Observer
) -> None:
    await observer.wait_status("running")
    second = EngineProcess(broker.url, namespace).start()
    try:
        assert await asyncio.to_thread(second.wait, 15) == 1
    finally:
        second.stop()
    assert "already running in namespace" in second.log()
    assert (await observer.wait_status("running")).pid == engine.pid


async def test_a_second_engine_on_the_same_journal_from_another_broker_is_refused(
    mosquitto: Broker,
) -> None:
    # A service on Mosquitto and a console that starts its own engine on another broker, in the
    # same namespace and data directory: the bus cannot see the first, the journal's lock can.
    namespace = unique_namespace()
    first = EngineProcess(mosquitto.url, namespace).start()
    try:
        async with Observer(mosquitto.host, mosquitto.port, namespace) as observer:
            await observer.wait_status("running")
            journal = first.dir / f"journal-{namespace}.sqlite"
            with running_broker("amqtt") as other_broker:
                second = EngineProcess(other_broker.url, namespace, data_dir=first.dir).start()
                try:
                    assert await asyncio.to_thread(second.wait, 20) == 2
                finally:
                    second.stop()
            log = second.log()
            assert f"journal {journal} is in use by another engine (pid {first.pid})" in log
            assert (await observer.wait_status("running")).pid == first.pid
            assert first.process is not None and first.process.poll() is None
    finally:
        first.stop()
    # Stopped, the first engine gives the journal up: the next engine on it starts.
    with running_broker("amqtt") as other_broker:
        third = EngineProcess(other_broker.url, namespace, data_dir=first.dir).start()
        try:
            async with Observer(other_broker.host, other_broker.port, namespace) as observer:
                assert (await observer.wait_status("running")).pid == third.pid
        finally:
            third.stop()
