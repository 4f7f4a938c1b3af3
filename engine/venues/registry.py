"""The real venues STOM knows, their config sections and credentials, and how to build them.

Each venue package (``engine/venues/<name>/``) is imported only when that venue is enabled, so an
engine that trades the simulator alone never loads a venue library. Credentials come from the
secrets file or the environment (never ``config.toml``) as :class:`Secret` values:

- Upbit (code UPBIT): ``[upbit] access_key`` and ``secret_key``, or ``STOM_UPBIT__ACCESS_KEY``
  and ``STOM_UPBIT__SECRET_KEY``;
- Binance (BINANCE): ``[binance] api_key`` and ``api_secret``, or ``STOM_BINANCE__API_KEY`` and
  ``STOM_BINANCE__API_SECRET``;
- Kiwoom (KRX): ``[kiwoom] app_key`` and ``secret_key``, or ``STOM_KIWOOM__APP_KEY`` and
  ``STOM_KIWOOM__SECRET_KEY``.

Upbit's and Binance's market data is public; Kiwoom's needs the keys even in paper mode.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from engine.config.errors import ConfigError
from engine.config.secrets import Secret, load_secrets, secret_env_name
from engine.config.settings import Settings, VenueSettings
from engine.domain.clock import Clock
from engine.domain.instrument import Instrument
from engine.venues.base import OrderClient, VenueFeed
from engine.venues.private_stream import PrivateStream


@dataclass(frozen=True)
class VenueSpec:
    """What STOM needs to know about one venue to configure and build it."""

    name: str
    """Config section (``[venues.<name>]``), secrets section and package name."""
    code: str
    """Venue code in instrument ids (``KRW-BTC.UPBIT``, ``005930.KRX``)."""
    key_names: tuple[str, str]
    """The two credentials, as named in the secrets file's ``[<name>]`` section."""
    feed_needs_keys: bool = False
    example_symbol: str = ""


SPECS: dict[str, VenueSpec] = {
    "upbit": VenueSpec("upbit", "UPBIT", ("access_key", "secret_key"), example_symbol="KRW-BTC"),
    "binance": VenueSpec("binance", "BINANCE", ("api_key", "api_secret"), example_symbol="BTCUSDT"),
    "kiwoom": VenueSpec(
        "kiwoom", "KRX", ("app_key", "secret_key"), feed_needs_keys=True, example_symbol="005930"
    ),
}
BY_CODE = {spec.code: spec for spec in SPECS.values()}


@dataclass
class VenueConfig:
    """One enabled venue: its spec, its settings and the credentials found for it."""

    spec: VenueSpec
    settings: VenueSettings
    keys: dict[str, Secret] = field(default_factory=dict)
    """By key name (``access_key`` …); empty when none are configured."""

    @property
    def live(self) -> bool:
        return self.settings.mode == "live"

    @property
    def code(self) -> str:
        return self.spec.code

    def module(self) -> ModuleType:
        return importlib.import_module(f"engine.venues.{self.spec.name}")

    def rest_url(self) -> str:
        return self.settings.rest_url or str(self.module().DEFAULT_REST_URL)

    def ws_url(self) -> str:
        return self.settings.ws_url or str(self.module().DEFAULT_WS_URL)

    def credentials(self) -> dict[str, Secret]:
        """Keyword arguments for the adapter: ``access_key=Secret(...)`` …"""
        return dict(self.keys)


def enabled_venues(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    only: Iterable[str] | None = None,
    need_keys: bool = False,
) -> list[VenueConfig]:
    """The enabled venues (or the ``only`` ones, enabled or not), with their credentials.

    Raises :class:`ConfigError` naming every missing credential of a venue that needs them (live
    mode, Kiwoom always, or ``need_keys``). Messages never contain a secret's value.
    """
    secrets = load_secrets(settings, os.environ if env is None else env)
    chosen = list(only) if only is not None else list(SPECS)
    configs: list[VenueConfig] = []
    problems: list[str] = []
    for name in chosen:
        spec = SPECS.get(name)
        if spec is None:
            problems.append(f"unknown venue {name!r} (venues: {', '.join(SPECS)})")
            continue
        venue_settings: VenueSettings = getattr(settings.venues, name)
        if only is None and not venue_settings.enabled:
            continue
        keys = {
            key: secrets[f"{name}.{key}"] for key in spec.key_names if f"{name}.{key}" in secrets
        }
        config = VenueConfig(spec, venue_settings, keys)
        wanted = need_keys or config.live or spec.feed_needs_keys
        missing = [key for key in spec.key_names if key not in keys]
        if wanted and missing:
            why = "live mode" if config.live else "its market data"
            where = " and ".join(
                f"[{name}] {key} in the secrets file or {secret_env_name(f'{name}.{key}')}"
                for key in missing
            )
            problems.append(f"[venues.{name}] needs API keys for {why}: set {where}")
            continue
        configs.append(config)
    if problems:
        raise ConfigError(problems)
    return configs


def _call(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an adapter's constructor with the keyword arguments it takes (adapters differ:
    Kiwoom's feed needs the keys for its token, Upbit's is public)."""
    accepted = inspect.signature(factory).parameters
    return factory(*args, **{k: v for k, v in kwargs.items() if k in accepted})


def build_feed(config: VenueConfig, clock: Clock) -> VenueFeed:
    module = config.module()
    feed_class = getattr(module, f"{_class_prefix(config)}Feed")
    return _call(
        feed_class,
        rest_url=config.rest_url(),
        ws_url=config.ws_url(),
        clock=clock,
        sell_tax=dict(config.settings.sell_tax),
        **config.credentials(),
    )


def build_order_client(
    config: VenueConfig, clock: Clock, instruments: Iterable[Instrument]
) -> OrderClient:
    module = config.module()
    client_class = getattr(module, f"{_class_prefix(config)}OrderClient")
    return _call(
        client_class,
        rest_url=config.rest_url(),
        clock=clock,
        instruments=list(instruments),
        **config.credentials(),
    )


def build_private_stream(
    config: VenueConfig, clock: Clock, client: OrderClient, instruments: Iterable[Instrument]
) -> PrivateStream | None:
    """The venue's private stream for ``client``'s account (fills and balances pushed; see
    ``engine/venues/private_stream.py``), or None for an adapter that has none."""
    try:
        module = importlib.import_module(f"engine.venues.{config.spec.name}.private_stream")
    except ModuleNotFoundError:
        return None
    return _call(
        module.private_stream,
        config.ws_url(),
        client=client,
        clock=clock,
        instruments=list(instruments),
        **config.credentials(),
    )


def _class_prefix(config: VenueConfig) -> str:
    return {"upbit": "Upbit", "binance": "Binance", "kiwoom": "Kiwoom"}[config.spec.name]


async def download_candles(config: VenueConfig, symbol: str, **options: Any) -> Any:
    """The venue's ``download_candles`` (a polars DataFrame, columns per the venue's docs)."""
    function = config.module().download_candles
    return await _call(
        function, symbol, rest_url=config.rest_url(), **config.credentials(), **options
    )


async def recent_trades(config: VenueConfig, symbol: str, **options: Any) -> Any:
    """The venue's ``recent_trades`` (a polars DataFrame, columns per the venue's docs)."""
    function = config.module().recent_trades
    return await _call(
        function, symbol, rest_url=config.rest_url(), **config.credentials(), **options
    )
