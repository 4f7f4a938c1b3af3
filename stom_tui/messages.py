"""App-wide messages, past tense, posted by the feed to the app.

Each carries a payload struct from :mod:`engine.protocol.payloads` unchanged. High-rate messages
implement ``can_replace`` so that only the newest one per key waits in the app's queue: a slow
frame never builds a backlog of stale market data.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine.protocol import table
from engine.protocol.optimize import OptimizeProgress
from engine.protocol.payloads import (
    BarUpdate,
    BookSnapshot,
    EngineStats,
    EngineStatus,
    FeedsHealth,
    Instruments,
    LogEvent,
    Payload,
    Tickers,
    Trades,
)
from engine.protocol.strategies import BacktestProgress, Strategies
from engine.protocol.table import TopicSpec
from engine.protocol.trading import (
    Account,
    Orders,
    OrderUpdate,
    Positions,
    Reconciliation,
    RiskState,
)


@dataclass
class EngineStatusChanged(Message):
    """The retained engine status changed (or was delivered on subscribe)."""

    status: EngineStatus


@dataclass
class EngineStatsReceived(Message):
    """The engine's once-a-second counters: also its heartbeat."""

    stats: EngineStats


@dataclass
class FeedsHealthUpdated(Message):
    """Each venue feed's state, message age and reconnects (``md/feeds``, once a second)."""

    feeds: FeedsHealth


@dataclass
class InstrumentsReceived(Message):
    """The list of instruments the engine streams."""

    instruments: Instruments


@dataclass
class TickersUpdated(Message):
    """A conflated snapshot of every instrument's ticker."""

    tickers: Tickers

    def can_replace(self, message: Message) -> bool:
        # Each snapshot covers every instrument, so a newer one makes a queued one redundant.
        return isinstance(message, TickersUpdated)


@dataclass
class BookUpdated(Message):
    """A conflated order book snapshot of one instrument."""

    book: BookSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BookUpdated) and message.book.id == self.book.id


@dataclass
class TradesReceived(Message):
    """Trades of one instrument since the engine's previous flush (never conflated)."""

    trades: Trades


@dataclass
class BarUpdated(Message):
    """The forming bar of one instrument and the bars closed since the previous flush."""

    bar: BarUpdate


@dataclass
class LogReceived(Message):
    """A log line from the engine."""

    event: LogEvent


@dataclass
class OrdersUpdated(Message):
    """The retained snapshot of open and recent orders (a newer one supersedes a queued one)."""

    orders: Orders

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OrdersUpdated)


@dataclass
class PositionsUpdated(Message):
    """The retained snapshot of positions (a newer one supersedes a queued one)."""

    positions: Positions

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PositionsUpdated)


@dataclass
class AccountUpdated(Message):
    """The retained account: trading mode and balances."""

    account: Account

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AccountUpdated)


@dataclass
class RiskStateChanged(Message):
    """The retained risk state (never conflated: a kill switch flip must be seen)."""

    risk: RiskState


@dataclass
class OrderEventReceived(Message):
    """One order event (submitted, filled, denied …) in journal order; never conflated."""

    update: OrderUpdate


@dataclass
class ReconciliationReported(Message):
    """Differences the engine found between its journal and a venue (empty when they agree)."""

    reconciliation: Reconciliation


@dataclass
class StrategiesUpdated(Message):
    """The retained list of strategies (a newer one supersedes a queued one)."""

    strategies: Strategies

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StrategiesUpdated)


@dataclass
class BacktestProgressed(Message):
    """The newest backtest run's progress (a newer one supersedes a queued one)."""

    progress: BacktestProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BacktestProgressed)


@dataclass
class OptimizeProgressed(Message):
    """The newest optimization run's progress and leaderboard (a newer one supersedes)."""

    progress: OptimizeProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OptimizeProgressed)


@dataclass
class FeedConnectionChanged(Message):
    """The app's connection to the broker went up or down."""

    connected: bool
    broker: str
    reason: str | None = None


@dataclass
class PayloadMalformed(Message):
    """A payload could not be decoded; it is counted and logged, never fatal."""

    topic: str
    error: str


_MESSAGE_FOR_TOPIC: dict[TopicSpec, tuple[type[Message], str]] = {
    table.STATUS: (EngineStatusChanged, "status"),
    table.STATS: (EngineStatsReceived, "stats"),
    table.FEEDS: (FeedsHealthUpdated, "feeds"),
    table.INSTRUMENTS: (InstrumentsReceived, "instruments"),
    table.TICKERS: (TickersUpdated, "tickers"),
    table.BOOK: (BookUpdated, "book"),
    table.TRADES: (TradesReceived, "trades"),
    table.BAR: (BarUpdated, "bar"),
    table.LOG: (LogReceived, "event"),
    table.ORDERS: (OrdersUpdated, "orders"),
    table.POSITIONS: (PositionsUpdated, "positions"),
    table.ACCOUNT: (AccountUpdated, "account"),
    table.RISK: (RiskStateChanged, "risk"),
    table.ORDER_EVENTS: (OrderEventReceived, "update"),
    table.RECONCILIATION: (ReconciliationReported, "reconciliation"),
    table.STRATEGIES: (StrategiesUpdated, "strategies"),
    table.BACKTEST_PROGRESS: (BacktestProgressed, "progress"),
    table.OPTIMIZE_PROGRESS: (OptimizeProgressed, "progress"),
}
"""The app message for each topic of the protocol table the console subscribes to (a test
checks that every such topic has one)."""

_MESSAGE_FOR_PAYLOAD: dict[type[Payload], tuple[type[Message], str]] = {
    spec.payload: message for spec, message in _MESSAGE_FOR_TOPIC.items()
}


def message_for(payload: Payload) -> Message:
    """The app message that carries ``payload`` (raises ``TypeError`` for commands/replies)."""
    try:
        message_type, field_name = _MESSAGE_FOR_PAYLOAD[type(payload)]
    except KeyError:
        raise TypeError(f"no app message carries a {type(payload).__name__}") from None
    return message_type(**{field_name: payload})
