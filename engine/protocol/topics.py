"""The topic tree under ``stom/<namespace>/`` (paths from :mod:`engine.protocol.table`)."""

from __future__ import annotations

import re

from engine.protocol import table as t

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_CLIENT_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

TIMEFRAMES = ("1s", "1m", "5m", "15m")
"""Bar timeframes the engine publishes."""


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"namespace {namespace!r} must be 1-64 characters of letters, digits, '_' or '-'"
        )
    return namespace


class Topics:
    """Topic names for one namespace."""

    __slots__ = ("root",)

    def __init__(self, namespace: str) -> None:
        self.root = f"stom/{check_namespace(namespace)}"

    # engine presence and health
    @property
    def status(self) -> str:
        """Retained engine status; the engine's last will sets it ``offline``."""
        return t.STATUS.topic(self.root)

    @property
    def stats(self) -> str:
        """Engine counters, once a second (also the app's heartbeat)."""
        return t.STATS.topic(self.root)

    # market data
    @property
    def instruments(self) -> str:
        return t.INSTRUMENTS.topic(self.root)

    @property
    def feeds(self) -> str:
        """Retained health of each venue feed (state, age, reconnects, gaps)."""
        return t.FEEDS.topic(self.root)

    @property
    def tickers(self) -> str:
        return t.TICKERS.topic(self.root)

    def book(self, instrument_id: str) -> str:
        return t.BOOK.topic(self.root, id=instrument_id)

    def trades(self, instrument_id: str) -> str:
        return t.TRADES.topic(self.root, id=instrument_id)

    def bar(self, timeframe: str, instrument_id: str) -> str:
        """The forming bar and the bars closed since the last flush."""
        return t.BAR.topic(self.root, tf=timeframe, id=instrument_id)

    def bars(self, timeframe: str, instrument_id: str) -> str:
        """Retained history of closed bars, republished when a bar closes."""
        return t.BARS.topic(self.root, tf=timeframe, id=instrument_id)

    # trading state and events
    @property
    def orders(self) -> str:
        """Retained snapshot of open and recent orders."""
        return t.ORDERS.topic(self.root)

    @property
    def order_events(self) -> str:
        """Ordered order events and fills (not retained)."""
        return t.ORDER_EVENTS.topic(self.root)

    @property
    def positions(self) -> str:
        return t.POSITIONS.topic(self.root)

    @property
    def account(self) -> str:
        return t.ACCOUNT.topic(self.root)

    @property
    def reconciliation(self) -> str:
        return t.RECONCILIATION.topic(self.root)

    @property
    def risk(self) -> str:
        """Retained risk state: kill switch, arming, paused instruments, limits."""
        return t.RISK.topic(self.root)

    # strategies and backtests
    @property
    def strategies(self) -> str:
        """Retained list of strategies with their state and PnL."""
        return t.STRATEGIES.topic(self.root)

    @property
    def backtest_progress(self) -> str:
        """Retained progress of the newest backtest run."""
        return t.BACKTEST_PROGRESS.topic(self.root)

    @property
    def optimize_progress(self) -> str:
        """Retained progress and leaderboard of the newest optimization run."""
        return t.OPTIMIZE_PROGRESS.topic(self.root)

    @property
    def walkforward_progress(self) -> str:
        """Retained progress and windows of the newest walk-forward run."""
        return t.WALKFORWARD_PROGRESS.topic(self.root)

    @property
    def montecarlo_progress(self) -> str:
        """Retained result of the newest Monte Carlo run."""
        return t.MONTECARLO_PROGRESS.topic(self.root)

    # events and commands
    @property
    def log(self) -> str:
        return t.LOG.topic(self.root)

    @property
    def commands(self) -> str:
        return t.COMMANDS.topic(self.root)

    def reply(self, client_id: str) -> str:
        if not _CLIENT_RE.match(client_id):
            raise ValueError(f"client id {client_id!r} must be letters, digits, '_' or '-'")
        return t.REPLY.topic(self.root, client=client_id)

    def is_reply_topic(self, topic: str) -> bool:
        prefix = t.REPLY.topic(self.root)
        return topic.startswith(prefix) and bool(_CLIENT_RE.match(topic[len(prefix) :]))

    def instrument_of(self, topic: str) -> str:
        """The last topic level: the instrument id of a per-instrument topic."""
        return topic.rpartition("/")[2]
