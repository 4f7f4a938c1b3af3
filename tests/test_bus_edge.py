"""The engine's bus edge, through the real engine subprocess on a real Mosquitto.

One test per finding of issue 12 about hostile input on ``cmd`` (4, 8, 10, 15, 16, 18) and the
typed-command checks of issue 13 (a wrong type, an unknown field, a missing field and a wrong
``v`` each get one reply naming the field). After each, the engine still answers ``ping``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.protocol.commands import COMMAND_ARGS
from engine.protocol.trading import RiskState
from tests.support.brokers import Broker, running_broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.raw_commands import MISSING, RawClient

pytestmark = pytest.mark.integration

BTC = "KRW-BTC.SIM"
LIMIT = "malformed command: limit: "


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with running_broker("mosquitto") as running:
        yield running


@pytest.fixture(scope="module")
def engine(broker: Broker) -> Iterator[EngineProcess]:
    process = EngineProcess(broker.url, unique_namespace()).start()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


@pytest.fixture
async def client(broker: Broker, engine: EngineProcess) -> AsyncIterator[RawClient]:
    async with Observer(broker.host, broker.port, engine.namespace) as observer:
        await observer.wait_status("running", timeout=20)
    async with RawClient(broker.host, broker.port, engine.namespace) as raw:
        yield raw
        # Every test ends with a live engine that answers at once.
        assert engine.process is not None and engine.process.poll() is None
        await raw.ping(timeout=3)


def order(**fields: object) -> dict[str, object]:
    return {"instrument": BTC, "side": "buy", "price": "50000000", "quantity": "0.001"} | fields


async def test_finding_4_a_huge_exponent_is_refused_at_once(client: RawClient) -> None:
    start = time.monotonic()
    reply = await client.one(
        client.command("order.submit", order(quantity="1e1000000"), "f4"), "f4", timeout=5
    )
    assert reply.status == "rejected"
    assert reply.reason == "quantity '1e1000000': exponent beyond ±30"
    assert time.monotonic() - start < 2.0  # it froze the loop for 26-60 s


async def test_finding_8_a_huge_kill_reason_is_refused(
    client: RawClient, broker: Broker, engine: EngineProcess
) -> None:
    data = client.command("kill", {"reason": "x" * 5_000_000}, "f8a")
    huge = await client.one(data, "f8a")
    assert huge.status == "rejected"
    assert huge.reason == f"{LIMIT}payload is {len(data):,} bytes; the limit is 65,536"
    long = await client.one(client.command("kill", {"reason": "y" * 201}, "f8b"), "f8b")
    assert long.status == "rejected"
    assert long.reason == "args.reason: expected `str` of length <= 200"
    # Neither tripped the kill switch: the retained risk state is as small as before.
    async with Observer(broker.host, broker.port, engine.namespace) as observer:
        topic = observer.topics.risk
        risk = await observer.wait_for(lambda: observer.latest(topic, RiskState))
        assert risk.kill_switch is False
        assert max(len(d) for d in observer.messages[topic]) < 2_000


async def test_finding_10_deep_nesting_on_cmd_is_refused_naming_the_limit(
    client: RawClient,
) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    data = client.command("ping", {}, "f10").replace(b'"args":{}', b'"args":' + deep)
    reply = await client.one(data, "f10")
    assert reply.status == "rejected"
    assert reply.reason == f"{LIMIT}payload nests deeper than the limit of 32 levels"
    # Deeper than any recursion limit, and no reply_to: logged, and the engine lives on.
    await client.publish(b"[" * 200_000 + b"]" * 200_000)
    await client.publish(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)


async def test_finding_10_retained_garbage_on_engine_status_stops_no_engine(
    client: RawClient, broker: Broker, engine: EngineProcess
) -> None:
    garbage = b'{"state":' * 1000 + b"1" + b"}" * 1000
    # On a running engine's namespace: it reads its own status topic, and puts itself back.
    async with Observer(broker.host, broker.port, engine.namespace) as observer:
        await observer.wait_status("running")  # subscribed: it will see what follows
        await client.publish(garbage, topic=client.topics.status, retain=True)
        seen = observer.messages[observer.topics.status]

        def running_after_garbage() -> bool:
            after = seen[seen.index(garbage) + 1 :] if garbage in seen else []
            return any(decode(d, p.EngineStatus).state == "running" for d in after)

        await observer.wait_for(running_after_garbage, what="running again after the garbage")
    await client.ping()
    # And a new engine in a namespace that holds it retained starts all the same.
    namespace = unique_namespace()
    async with RawClient(broker.host, broker.port, namespace) as other:
        await other.publish(garbage, topic=other.topics.status, retain=True)
        second = EngineProcess(broker.url, namespace).start()
        try:
            async with Observer(broker.host, broker.port, namespace) as observer:
                await observer.wait_status("running", timeout=20)
            await other.ping()
        finally:
            second.stop()
        assert "Traceback" not in second.log()


async def test_finding_15_no_internal_errors_for_hostile_numbers_and_names(
    client: RawClient,
) -> None:
    cases = {
        "p5000": ("order.submit", order(price="1e5000"), "price '1e5000': exponent beyond ±30"),
        "q5000": ("order.submit", order(quantity="1e5000"), "quantity '1e5000': exponent beyond"),
        "pmem": ("order.submit", order(price="1e999999999999"), "price '1e999999999999': expo"),
        "nul": (
            "strategy.describe",
            {"file": "a\u0000b.py"},
            "args.file: expected a .py file in the strategies directory",
        ),
    }
    for request_id, (type_, args, _) in cases.items():
        await client.publish(client.command(type_, args, request_id))
    replies = await client.answers(list(cases))
    for request_id, (_, _, reason) in cases.items():
        [reply] = replies[request_id]
        assert reply.status == "rejected" and reply.reason is not None
        assert reply.reason.startswith(reason), reply.reason
        assert "internal error" not in reply.reason


async def test_finding_16_out_of_range_numbers_and_lone_surrogates_get_one_reply(
    client: RawClient,
) -> None:
    big = client.command("orders", {}, "f16a").replace(b'"args":{}', b'"args":{"open":1e309}')
    surrogate = client.command("kill", {}, "f16b").replace(
        b'"args":{}', b'"args":{"reason":"\\ud800"}'
    )
    in_id = client.command("ping", {}, "f16c").replace(b'"v":1', b'"v":1e309')
    for data in (big, surrogate, in_id):
        await client.publish(data)
    replies = await client.answers(["f16a", "f16b", "f16c"])
    assert [r.reason for [r] in replies.values()] == [
        "args.open: number out of range",
        "malformed command: text with a lone UTF-16 surrogate escape (\\ud800)",
        "malformed command: Command: v: number out of range",
    ]


async def test_finding_18_parsing_is_strict(client: RawClient) -> None:
    cases = {
        "open": ("orders", {"open": "false"}, "args.open: expected `bool`, got `str`"),
        "sid": (
            "order.submit",
            order(strategy_id="tick_momentum"),
            "unknown field 'args.strategy_id' (it takes: instrument, side, type, tif, price,"
            " quantity, notional, client_order_id)",
        ),
        "flat": ("kill", {"flatten": "true"}, "args.flatten: expected `bool`, got `str`"),
    }
    for request_id, (type_, args, _) in cases.items():
        await client.publish(client.command(type_, args, request_id))
    replies = await client.answers(list(cases))
    for request_id, (_, _, reason) in cases.items():
        [reply] = replies[request_id]
        assert reply.status == "rejected" and (reply.reason or "").startswith(reason), reply


async def test_each_bad_field_gets_one_reply_naming_it(client: RawClient) -> None:
    cases = {
        "type": (client.command("order.cancel", {"client_order_id": 7}, "type"), "args."),
        "unknown": (client.command("ping", {"extra": 1}, "unknown"), "unknown field 'args.extra'"),
        "missing": (client.command("order.cancel", {}, "missing"), "missing field"),
        "v2": (client.command("ping", {}, "v2", v=2), "malformed command: Command: v must be"),
        "nov": (client.command("ping", {}, "nov", v=MISSING), "malformed command: Command: miss"),
        "kind": (client.command("launch", {}, "kind"), "unknown command type 'launch'"),
        "item": (
            client.command("md.history", {"instrument": "X", "timeframes": ["2m"]}, "item"),
            "args.timeframes[0] must be one of",
        ),
    }
    expected = {
        "type": "args.client_order_id: expected `str`, got `int`",
        "unknown": "unknown field 'args.extra' (it takes: no arguments)",
        "missing": "missing field 'args.client_order_id'",
        "v2": "malformed command: Command: v must be one of 1 (the schema version); got 2",
        "nov": "malformed command: Command: missing field 'v'",
        # An item of a list field names the choices as a plain field does.
        "item": "args.timeframes[0] must be one of 15m, 1m, 1s, 5m; got '2m'",
    }
    for data, _ in cases.values():
        await client.publish(data)
    replies = await client.answers(list(cases))
    for request_id, (_, start) in cases.items():
        [reply] = replies[request_id]
        assert reply.status == "rejected" and (reply.reason or "").startswith(start), reply
        if request_id in expected:
            assert reply.reason == expected[request_id]
    assert "ping" in (replies["kind"][0].reason or "")


async def test_many_commands_at_once_each_get_exactly_one_reply(client: RawClient) -> None:
    ids = [f"m{n}" for n in range(200)]
    for n, request_id in enumerate(ids):
        args = {} if n % 2 else {"junk": n}
        await client.publish(client.command("ping", args, request_id))
    replies = await client.answers(ids, timeout=20)
    assert all(len(found) == 1 for found in replies.values())
    assert sum(found[0].status == "accepted" for found in replies.values()) == 100
    assert not client.unreadable


async def test_the_engine_answers_every_command_of_the_protocol_and_no_other(
    client: RawClient,
) -> None:
    reply = await client.one(client.command("status", {}, "st"), "st")
    assert reply.status == "accepted" and reply.result is not None
    assert reply.result["commands"] == sorted(COMMAND_ARGS)
