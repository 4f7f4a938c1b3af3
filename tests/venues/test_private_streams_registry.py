"""The registry builds each live venue's private stream next to its configured ``ws_url``, and
the engine's venue set hands it to the live exchange."""

from __future__ import annotations

import pytest

from engine.config.secrets import Secret
from engine.config.settings import VenueSettings
from engine.domain.clock import LiveClock
from engine.market_state import MarketState
from engine.venues.binance.private_stream import BinancePrivateStream
from engine.venues.feeds import VenueRuntime, VenueSet
from engine.venues.kiwoom.private_stream import KiwoomPrivateStream
from engine.venues.registry import SPECS, VenueConfig, build_order_client, build_private_stream
from engine.venues.upbit.private_stream import UpbitPrivateStream

KEYS = {
    "upbit": {"access_key": Secret("a" * 32), "secret_key": Secret("s" * 32)},
    "binance": {"api_key": Secret("a" * 32), "api_secret": Secret("s" * 32)},
    "kiwoom": {"app_key": Secret("a" * 32), "secret_key": Secret("s" * 32)},
}


def config(venue: str, ws_url: str = "") -> VenueConfig:
    settings = VenueSettings(enabled=True, mode="live", symbols=["X"], ws_url=ws_url)
    return VenueConfig(SPECS[venue], settings, dict(KEYS[venue]))


@pytest.mark.parametrize(
    ("venue", "ws_url", "kind", "url"),
    [
        ("upbit", "", UpbitPrivateStream, "wss://api.upbit.com/websocket/v1/private"),
        ("upbit", "ws://127.0.0.1:9/websocket/v1", UpbitPrivateStream,
         "ws://127.0.0.1:9/websocket/v1/private"),
        ("binance", "", BinancePrivateStream, "wss://ws-api.binance.com:443/ws-api/v3"),
        ("binance", "ws://127.0.0.1:9", BinancePrivateStream, "ws://127.0.0.1:9/ws-api/v3"),
        ("kiwoom", "", KiwoomPrivateStream, "wss://api.kiwoom.com:10000/api/dostk/websocket"),
    ],
)  # fmt: skip
async def test_each_venue_gets_its_private_stream_at_the_right_address(
    venue: str, ws_url: str, kind: type, url: str
) -> None:
    venue_config = config(venue, ws_url)
    clock = LiveClock()
    client = build_order_client(venue_config, clock, [])
    try:
        stream = build_private_stream(venue_config, clock, client, [])
        assert isinstance(stream, kind)
        address = getattr(stream, "ws_url", None) or getattr(stream, "ws_api_url", None)
        assert address == url
    finally:
        await client.close()


async def test_the_venue_set_gives_each_live_exchange_its_stream() -> None:
    venue_set = VenueSet([VenueRuntime(config("upbit"), feed=None, instruments=[])])  # type: ignore[arg-type]
    venue_set.attach(MarketState(), LiveClock())
    exchange = venue_set.live_exchanges["UPBIT"]
    assert isinstance(exchange.private_stream, UpbitPrivateStream)
    await exchange.client.close()
