"""Talking to a real engine subprocess from a test: remote sessions and its order events.

:func:`remote_engine` is one session (the CLI's own client, over the test's broker);
:func:`remote_engines` opens them on demand and closes them all at the end; :func:`order_status`
reads an order's latest status from what an :class:`~tests.support.engine_process.Observer` saw
on ``order_events``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from tests.support.brokers import Broker
from tests.support.engine_process import Observer

RemoteFactory = Callable[[Broker, str], Awaitable[RemoteEngine]]
"""Opens a remote session to the engine on ``broker`` under ``namespace``."""


def remote_engine(url: str, namespace: str) -> RemoteEngine:
    """A session (``async with``) to the engine under ``namespace`` on the broker at ``url``."""
    settings = Settings(bus=BusSettings(url=url, namespace=namespace))
    return RemoteEngine(settings, parse_broker_url(url), None)


@contextlib.asynccontextmanager
async def remote_engines() -> AsyncIterator[RemoteFactory]:
    """A :data:`RemoteFactory`; every session it opened is closed when the block ends."""
    opened: list[RemoteEngine] = []

    async def open_remote(broker: Broker, namespace: str) -> RemoteEngine:
        remote = remote_engine(broker.url, namespace)
        await remote.__aenter__()
        opened.append(remote)
        return remote

    try:
        yield open_remote
    finally:
        for remote in opened:
            await remote.__aexit__(None, None, None)


def order_status(observer: Observer, coid: str) -> str | None:
    """The last status ``observer`` saw for order ``coid`` (None: no event of it yet)."""
    status = None
    for data in observer.messages.get(observer.topics.order_events, []):
        try:
            event = msgspec.json.decode(data)
        except msgspec.DecodeError:
            continue
        order = event.get("order") or {}
        if order.get("client_order_id") == coid:
            status = order.get("status")
    return None if status is None else str(status)
