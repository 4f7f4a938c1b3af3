"""Payload schemas (msgspec structs). Every payload carries ``v``, the schema version.

Money and sizes travel as exact decimal strings ("103493000", "0.00094678"); timestamps as integer
nanoseconds UTC. Optional fields may be missing or null; unknown fields are ignored by decoders
so that a newer engine can add fields without breaking an older app (bump ``v`` for breaking
changes).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 1

EngineState = Literal["starting", "running", "degraded", "stopping", "stopped", "offline"]


class Payload(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of every payload."""

    v: int = SCHEMA_VERSION


# --- engine presence ------------------------------------------------------------------------


class EngineStatus(Payload, kw_only=True):
    """Retained at ``engine/status``. The last will publishes ``state="offline"``."""

    state: EngineState
    engine_id: str
    ts: int
    pid: int | None = None
    started_ns: int | None = None
    version: str | None = None
    venues: list[str] = []
    broker: str | None = None
    """Broker address the engine uses, without credentials."""
    reason: str | None = None


class EngineStats(Payload, kw_only=True):
    """Published once a second at ``engine/stats``; doubles as the engine heartbeat."""

    engine_id: str
    ts: int
    uptime_s: float
    ticks_total: int
    ticks_per_s: float
    last_tick_ns: int | None
    bus_messages_out: int
    bus_events_dropped: int
    rss_bytes: int
    instruments: int
    sim_lag_ms: float = 0.0
    """How far the simulator's newest event stands behind the wall clock after the latest turn."""
    sim_lag_p99_ms: float = 0.0
    """99th percentile of that lag over the last minute."""
    sim_lag_max_ms: float = 0.0
    """The largest lag since start (before a skip: how far behind it fell)."""
    sim_dropped: int = 0
    """Simulator events never generated because the engine could not keep up: it skipped ahead
    (engine/sim/pacing.py); the expected count of the skipped time."""


# --- market data ----------------------------------------------------------------------------


class InstrumentInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str
    venue: str
    base_currency: str
    quote_currency: str
    price_precision: int
    size_precision: int
    tick_bands: list[tuple[str, str]]
    """``[lower_bound, tick]`` pairs, ascending."""
    lot_size: str
    min_notional: str
    maker_fee: str
    taker_fee: str


class Instruments(Payload, kw_only=True):
    """Retained at ``md/instruments``: everything the engine streams."""

    ts: int
    instruments: list[InstrumentInfo]


FeedStateName = Literal["connecting", "live", "stale", "resyncing", "down"]


class FeedHealthRow(msgspec.Struct, kw_only=True):
    """One venue feed's condition."""

    venue: str
    state: FeedStateName
    """``stale``: connected, but no market data received for longer than ``[risk]
    stale_feed_s`` (entries on its instruments wait, as the risk rule decides)."""
    mode: Literal["paper", "live"]
    """Where this venue's orders go: the paper exchange, or the venue itself."""
    last_message_ns: int | None
    """Engine time of the feed's last message (null: none yet)."""
    age_ms: int | None
    """Milliseconds since that message when the payload was made."""
    connects: int
    reconnects: int
    gaps: int
    """Sequence gaps detected (each forced a book resync)."""
    malformed: int
    """Frames that could not be parsed (skipped)."""
    resyncing: list[str] = []
    """Instrument ids whose book is being rebuilt (entries on them wait)."""
    last_error: str | None = None
    disconnects: int = 0
    """Connections lost or closed (each followed by a reconnect)."""
    crossed: int = 0
    """Books that arrived crossed or locked (each dropped and resynced)."""
    stale: list[str] = []
    """Instrument ids with no market data received for longer than ``[risk] stale_feed_s``."""
    data_age_ms: int | None = None
    """Milliseconds since the newest market data of any of its instruments was received."""
    clock_offset_ms: int | None = None
    """The venue's clock minus the engine's, measured from its timestamps (positive: ahead);
    shown only: staleness is judged by receive time (null: not measured yet)."""


class FeedsHealth(Payload, kw_only=True):
    """Retained at ``md/feeds``, once a second: every venue feed of the engine."""

    ts: int
    feeds: list[FeedHealthRow]


class Ticker(msgspec.Struct, kw_only=True, array_like=False):
    id: str
    last: str | None
    """Last trade price."""
    prev_close: str | None
    """Reference price for ``change_pct`` (the session's base price)."""
    change_pct: str | None
    volume: str
    """Volume traded since the session start."""
    turnover: str
    """Value traded since the session start, in the quote currency."""
    trades: int
    bid: str | None
    bid_size: str | None
    ask: str | None
    ask_size: str | None
    spread: str | None
    ts_event: int
    """Venue time of the newest event for this instrument."""
    ts_trade: int | None


class Tickers(Payload, kw_only=True):
    """Retained, conflated at ``md/tickers``: one snapshot of all instruments per flush."""

    ts: int
    tickers: list[Ticker]


class BookSnapshot(Payload, kw_only=True):
    """Retained, conflated at ``md/book/<id>``: best levels first on both sides."""

    id: str
    ts_event: int
    seq: int
    """Engine book update counter; strictly increases per instrument."""
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class TradeRow(msgspec.Struct, array_like=True):
    ts_event: int
    price: str
    size: str
    side: Literal["buy", "sell"]
    """The aggressor."""


class Trades(Payload, kw_only=True):
    """At ``md/trades/<id>``: trades since the previous flush, oldest first (not retained).

    At most ``limit`` rows per flush; ``skipped`` counts older trades that were left out.
    """

    id: str
    trades: list[TradeRow]
    skipped: int = 0


class BarRow(msgspec.Struct, array_like=True):
    ts_open: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


class BarUpdate(Payload, kw_only=True):
    """Conflated at ``md/bar/<tf>/<id>``: the forming bar and bars closed since the last flush."""

    id: str
    tf: str
    forming: BarRow | None
    closed: list[BarRow] = []


class BarHistory(Payload, kw_only=True):
    """Retained at ``md/bars/<tf>/<id>``: the most recent closed bars, oldest first."""

    id: str
    tf: str
    bars: list[BarRow]


# --- events ---------------------------------------------------------------------------------

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogEvent(Payload, kw_only=True):
    """Ordered, not retained, at ``log``."""

    ts: int
    seq: int
    level: LogLevel
    source: str
    message: str


# --- commands -------------------------------------------------------------------------------


class Command(Payload, kw_only=True):
    """Published at ``cmd``. Every command gets exactly one :class:`Reply` on ``reply_to``."""

    id: str
    """Request id, chosen by the client, echoed in the reply."""
    type: str
    reply_to: str
    """Must be ``stom/<namespace>/reply/<client>``."""
    args: dict[str, Any] = {}


class Reply(Payload, kw_only=True):
    id: str
    type: str
    status: Literal["accepted", "rejected"]
    ts: int
    reason: str | None = None
    result: dict[str, Any] | None = None
