"""The typed, read-only settings tree. ``config.toml`` at the repository root documents each key.

Sources, lowest priority first: defaults here, the TOML file, environment variables
(``STOM_<SECTION>__<KEY>``), command-line flags. Unknown keys are errors. Secrets never live here:
the broker password comes from ``STOM_BUS__PASSWORD`` or the secrets file (see ``secrets.py``).
"""

from __future__ import annotations

import msgspec


class BusSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """MQTT connection shared by the engine and the app."""

    url: str = "mqtt://127.0.0.1:1883"
    """Broker address: ``mqtt://host:port`` or ``mqtts://host:port`` (TLS)."""
    namespace: str = "default"
    """Topic root ``stom/<namespace>/``: several STOM installations can share one broker."""
    embedded: bool = True
    """Start the embedded amqtt broker on this address if nothing answers there (loopback only)."""
    username: str = ""
    """Broker user; the password comes from STOM_BUS__PASSWORD or the secrets file."""
    keepalive_s: int = 5
    """MQTT keepalive. The app shows the engine offline after this long without a heartbeat."""
    flush_hz: float = 10.0
    """How often the engine publishes conflated state (book, tickers, bars)."""
    tls_ca_file: str = ""
    """CA bundle for mqtts:// (empty: the system's trust store)."""
    tls_cert_file: str = ""
    """Client certificate for mutual TLS (optional)."""
    tls_key_file: str = ""
    """Private key for ``tls_cert_file`` (empty: the key is in the certificate file)."""
    tls_insecure: bool = False
    """Skip the broker hostname check (self-signed test brokers only)."""


class EngineSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The engine process."""

    log_level: str = "info"
    """debug, info, warning or error."""
    log_file: str = ""
    """Also write the engine log to this file (empty: stderr only)."""
    bar_history: int = 120
    """Closed bars kept per instrument and timeframe (and published retained)."""
    trades_per_flush: int = 200
    """At most this many trades per instrument in one published trades batch."""


class SimSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The built-in market simulator (venue code SIM)."""

    enabled: bool = True
    """Run the simulator."""
    seed: int = 7
    """Same seed, same market: the event sequence is deterministic."""
    rate: float = 400.0
    """Total market events per second across all instruments (book changes and trades)."""
    instruments: list[str] = msgspec.field(
        default_factory=lambda: ["KRW-BTC", "KRW-ETH", "KRW-XRP", "005930", "000660", "035720"]
    )
    """Symbols from the simulator's catalogue (see ``stom sim list``)."""
    book_depth: int = 20
    """Price levels kept on each side of each simulated book."""


class AppSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The console."""

    spawn_engine: bool = True
    """Start an engine subprocess if none is alive in the namespace (else wait for one)."""
    tick_points: int = 120
    """Points in the tick-by-tick sparkline."""
    keymap: dict[str, str] = msgspec.field(default_factory=dict)
    """Key remaps: binding id -> keys, e.g. { "quit" = "ctrl+q" }."""


class SecretsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where secrets come from."""

    file: str = "~/.config/stom/secrets.toml"
    """A TOML file with mode 0600 (refused otherwise); environment variables win over it."""


class DataSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Storage."""

    dir: str = "data"
    """Data directory (Parquet ticks, journal, results); relative to the working directory."""


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration."""

    bus: BusSettings = msgspec.field(default_factory=BusSettings)
    engine: EngineSettings = msgspec.field(default_factory=EngineSettings)
    sim: SimSettings = msgspec.field(default_factory=SimSettings)
    app: AppSettings = msgspec.field(default_factory=AppSettings)
    secrets: SecretsSettings = msgspec.field(default_factory=SecretsSettings)
    data: DataSettings = msgspec.field(default_factory=DataSettings)
