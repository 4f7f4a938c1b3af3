"""The real engine (a subprocess, a real Mosquitto) trading live on Upbit's loopback: a fill made on
the venue reaches the engine by the private stream (``myOrder``) long before the poll would.

The engine is configured as a user would (``[venues.upbit]`` live, ``poll_interval_ms`` 10 s, keys
from a 0600 secrets file); the registry builds the private stream next to the configured
``ws_url``. The venue's market keeps running; the test's order rests 2 % under the touch, where the
simulated market does not reach, and the test fills it on the venue itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.cli.demo_command import demo_settings_args
from engine.domain.market_data import ASK
from engine.venues.loopback_host import LoopbackHost
from engine.venues.upbit.loopback import UpbitLoopback
from engine.venues.upbit.loopback_market import TradeRecord
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.remote_engines import RemoteFactory, order_status, remote_engines

pytestmark = pytest.mark.integration

POLL_MS = 10_000
BTC = "KRW-BTC.UPBIT"


@pytest.fixture
def broker(mosquitto: Broker) -> Broker:
    return mosquitto


@pytest.fixture
async def remote_factory() -> AsyncIterator[RemoteFactory]:
    async with remote_engines() as open_remote:
        yield open_remote


async def fill_on_venue(server: UpbitLoopback, price: Decimal, size: str) -> int:
    """Runs on the loopback's own loop: a sell print at ``price`` fills resting bids there."""
    market = server.market
    position = market.position_of["KRW-BTC"]
    instrument = market.instruments[position]
    price_raw = int(price.scaleb(instrument.price_precision))
    size_raw = int(Decimal(size).scaleb(instrument.size_precision))
    now = time.time_ns()
    server.exchange.on_trades([TradeRecord(position, now, price_raw, size_raw, ASK, now)], now)
    return server.requests.get("/v1/order", 0) + server.requests.get("/v1/orders/open", 0)


async def test_a_venue_fill_reaches_the_engine_by_the_private_stream(
    broker: Broker, tmp_path: Path, remote_factory: RemoteFactory
) -> None:
    host = LoopbackHost("upbit", seed=5, symbols=["KRW-BTC"])
    info = host.start()
    server: UpbitLoopback = host._server
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text("[upbit]\n" + "".join(f'{k} = "{v}"\n' for k, v in info.keys.items()))
    secrets_file.chmod(0o600)
    extra = [
        *demo_settings_args(info, live=True),
        "--set", f"secrets.file={secrets_file}",
        "--set", f"venues.upbit.poll_interval_ms={POLL_MS}",
    ]  # fmt: skip
    namespace = unique_namespace()
    engine = EngineProcess(broker.url, namespace, data_dir=tmp_path, extra=extra).start()
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 40)
            remote = await remote_factory(broker, namespace)
            assert (await remote.request("arm", {"venue": "UPBIT"}, timeout=10)).status == (
                "accepted"
            )
            await observer.wait_for(lambda: server.private.sessions, 20, "the private stream")
            bids = server.published_book("KRW-BTC")[0]
            price = (bids[0][0] * Decimal("0.98") / 1000).to_integral_value() * 1000  # the grid
            reply = await remote.request(
                "order.submit",
                {"instrument": BTC, "side": "buy", "price": str(price), "quantity": "0.002"},
                timeout=10,
            )
            assert reply.status == "accepted", reply.reason
            coid = reply.result["order"]["client_order_id"]
            await observer.wait_for(lambda: order_status(observer, coid) == "accepted", 10, "open")
            await asyncio.sleep(0.3)  # the query that follows the place is answered
            started = time.monotonic()
            queries = await asyncio.to_thread(host._run, fill_on_venue(server, price, "0.002"), 5)
            await observer.wait_for(lambda: order_status(observer, coid) == "filled", 5, "filled")
            took = time.monotonic() - started
            polls = server.requests.get("/v1/order", 0) + server.requests.get("/v1/orders/open", 0)
    finally:
        engine.stop()
        host.stop()
    assert took < 1.5, f"the fill took {took:.2f} s to reach the engine (polls every 10 s)"
    assert polls == queries, "the fill was fetched by REST, not pushed by the stream"
    assert "private stream subscribed" in engine.log()
