"""The typed, read-only settings tree. ``config.toml`` at the repository root documents each key.

Sources, lowest priority first: defaults here, the TOML file, environment variables
(``STOM_<SECTION>__<KEY>``), command-line flags. Unknown keys are errors. Secrets never live here:
the broker password comes from ``STOM_BUS__PASSWORD`` or the secrets file (see ``secrets.py``).
"""

from __future__ import annotations

import msgspec

from engine.config.alert_settings import AlertsSettings
from engine.config.strategy_settings import StrategiesSettings


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
    """Also write the engine log to this file (empty: stderr only), rotated by size."""
    log_max_mb: float = 20.0
    """Rotate ``log_file`` when it reaches this many MiB."""
    log_backups: int = 5
    """Rotated log files kept (``engine.log.1`` ... ``.N``), 1 or more."""
    log_format: str = "text"
    """``text`` (one readable line per record) or ``json`` (one JSON object per line)."""
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
    ladder_size: dict[str, str] = msgspec.field(
        default_factory=lambda: {"KRW": "1000000", "USDT": "1000"}
    )
    """Size of an order placed from the price ladder, exact decimal text. Keyed by instrument id
    (a quantity, e.g. { "KRW-BTC.UPBIT" = "0.001" }) or by quote currency (an order value, turned
    into a quantity at the order's price and rounded down to the lot); the instrument wins."""
    confirm_ladder_orders: bool = True
    """Ask before sending an order placed from the price ladder (false: send at once)."""


class SecretsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where secrets come from."""

    file: str = "~/.config/stom/secrets.toml"
    """A TOML file with mode 0600 (refused otherwise); environment variables win over it."""


class DataSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Storage."""

    dir: str = "data"
    """Data directory (Parquet ticks, journal, results); relative to the working directory."""


class PaperSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Paper trading: the starting account and the fill model's latencies."""

    balances: dict[str, str] = msgspec.field(default_factory=lambda: {"KRW": "100000000"})
    """Starting cash per currency, exact decimal text. Used when the journal is new."""
    order_latency_ms: float = 20.0
    """Submit to accept: an order reaches the paper book this long after it is sent."""
    allow_short: bool = False
    """Let sells exceed the held quantity (spot venues do not; leave off to match them)."""


class RiskSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Pre-trade limits and post-trade trips. Money limits are per quote currency."""

    price_band_pct: str = "5"
    """Limit prices further than this from the last trade (or mid) are denied."""
    max_order_notional: dict[str, str] = msgspec.field(default_factory=lambda: {"KRW": "50000000"})
    """Largest single order value per quote currency."""
    max_position_notional: dict[str, str] = msgspec.field(
        default_factory=lambda: {"KRW": "100000000"}
    )
    """Largest position value per instrument, per quote currency."""
    max_gross_exposure: dict[str, str] = msgspec.field(default_factory=lambda: {"KRW": "300000000"})
    """Largest sum of all position values plus open order values, per quote currency."""
    max_open_orders: int = 50
    """Open orders allowed at once, all instruments."""
    max_orders_per_second: int = 20
    """Order submissions allowed in any one-second window."""
    daily_loss_limit: dict[str, str] = msgspec.field(default_factory=lambda: {"KRW": "5000000"})
    """Realized plus unrealized loss since the day began that trips the kill switch."""
    max_drawdown: dict[str, str] = msgspec.field(default_factory=lambda: {"KRW": "10000000"})
    """Fall from the day's equity peak that trips the kill switch."""
    stale_feed_s: float = 5.0
    """Entries on an instrument pause when its feed has been silent this long."""
    stop_loss_pct: str = "0"
    """Default protective stop for new positions, percent from entry (0: none)."""
    take_profit_pct: str = "0"
    """Default take-profit for new positions, percent from entry (0: none)."""
    trailing_stop_pct: str = "0"
    """Default trailing stop for new positions, percent below the best price since entry."""


class JournalSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The SQLite journal of commands, order events, fills, positions and risk state."""

    file: str = ""
    """Empty: ``<data.dir>/journal-<namespace>.sqlite``."""
    synchronous: str = "normal"
    """``normal`` survives a killed engine; ``full`` also survives power loss (slower)."""


class VenueSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One real venue (``[venues.upbit]``, ``[venues.binance]``, ``[venues.kiwoom]``).

    Its API keys never live here: they come from the secrets file or the environment
    (``[upbit] access_key`` / ``STOM_UPBIT__ACCESS_KEY``; see ``engine/venues/registry.py``).
    """

    enabled: bool = False
    """Stream this venue's market data (and trade on it)."""
    mode: str = "paper"
    """``paper``: orders fill on the paper exchange against the venue's real books (no keys);
    ``live``: orders go to the venue (needs keys and ``stom arm <VENUE>`` after every start)."""
    symbols: list[str] = msgspec.field(default_factory=list)
    """The venue's own symbols: ``KRW-BTC`` (Upbit), ``BTCUSDT`` (Binance), ``005930`` (Kiwoom)."""
    rest_url: str = ""
    """REST base URL; empty: the venue's real one (set it for a testnet, a proxy or a loopback)."""
    ws_url: str = ""
    """WebSocket URL of the market data feed; empty: the venue's real one."""
    poll_interval_ms: float = 1000.0
    """Live mode: how often open orders are queried for fills and cancels."""
    sell_tax: dict[str, str] = msgspec.field(default_factory=dict)
    """Kiwoom: the sell-side transaction tax as a flat rate per market (``KOSPI``, ``KOSDAQ``,
    ``KONEX``), e.g. ``{ KOSPI = "0.002" }``; markets not set follow the built-in schedule by
    trade date (``engine/venues/kiwoom/rules.py``). Charged by paper fills and backtests."""
    book_depth: int = 0
    """Book levels per side published to the console; 0: every level the venue sends (Upbit 30,
    Kiwoom 10, Binance its snapshot's 1000). Not ``[sim] book_depth``, which is the simulator's."""


class VenuesSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The real venues, one subsection each."""

    upbit: VenueSettings = msgspec.field(default_factory=VenueSettings)
    """Upbit (KRW crypto market): instruments ``KRW-BTC.UPBIT``."""
    binance: VenueSettings = msgspec.field(default_factory=VenueSettings)
    """Binance spot: instruments ``BTCUSDT.BINANCE``."""
    kiwoom: VenueSettings = msgspec.field(default_factory=VenueSettings)
    """Kiwoom REST (Korean stocks on KRX): instruments ``005930.KRX``."""


class RecorderSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The tick recorder: what the engine receives, to Parquet (see ``engine/recorder.py``)."""

    enabled: bool = False
    """Record while the engine runs (``stom data record`` records without this)."""
    dir: str = ""
    """Tick store root; empty: ``<data.dir>/ticks``."""
    flush_s: float = 2.0
    """Buffered rows are written at least this often: a crash loses at most this much."""
    rows_per_part: int = 65_536
    """Rows per part file (one Parquet row group); a full buffer is written at once."""
    instruments: list[str] = msgspec.field(default_factory=list)
    """Instrument ids to record (``KRW-BTC.UPBIT``); empty: every instrument the engine streams."""


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration."""

    bus: BusSettings = msgspec.field(default_factory=BusSettings)
    engine: EngineSettings = msgspec.field(default_factory=EngineSettings)
    sim: SimSettings = msgspec.field(default_factory=SimSettings)
    app: AppSettings = msgspec.field(default_factory=AppSettings)
    secrets: SecretsSettings = msgspec.field(default_factory=SecretsSettings)
    data: DataSettings = msgspec.field(default_factory=DataSettings)
    paper: PaperSettings = msgspec.field(default_factory=PaperSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    journal: JournalSettings = msgspec.field(default_factory=JournalSettings)
    venues: VenuesSettings = msgspec.field(default_factory=VenuesSettings)
    recorder: RecorderSettings = msgspec.field(default_factory=RecorderSettings)
    alerts: AlertsSettings = msgspec.field(default_factory=AlertsSettings)
    strategies: StrategiesSettings = msgspec.field(default_factory=StrategiesSettings)
