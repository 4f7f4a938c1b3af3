"""Fixtures: a fresh Upbit loopback server per test (real sockets on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from engine.config.secrets import Secret
from engine.domain.instrument import Instrument
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from tests.venues.upbit.support import ACCESS_KEY, SECRET_KEY, SYMBOLS


@pytest.fixture
async def server() -> AsyncIterator[UpbitLoopback]:
    loopback = UpbitLoopback(
        seed=7,
        symbols=SYMBOLS,
        api_key=ACCESS_KEY,
        api_secret=SECRET_KEY,
        balances={"KRW": Decimal(1_000_000_000)},
        rate=200.0,
        history_s=120.0,
    )
    await loopback.start()
    yield loopback
    await loopback.stop()


@pytest.fixture
async def instruments(server: UpbitLoopback) -> list[Instrument]:
    return await UpbitFeed(server.rest_url, server.ws_url).load_instruments(SYMBOLS)


@pytest.fixture
async def client(
    server: UpbitLoopback, instruments: list[Instrument]
) -> AsyncIterator[UpbitOrderClient]:
    order_client = UpbitOrderClient(
        server.rest_url,
        access_key=Secret(ACCESS_KEY),
        secret_key=Secret(SECRET_KEY),
        instruments=instruments,
    )
    yield order_client
    await order_client.close()
