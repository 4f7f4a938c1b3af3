"""The topic tree under ``stom/<namespace>/``."""

from __future__ import annotations

import re

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_CLIENT_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

TIMEFRAMES = ("1s", "1m")
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
        return f"{self.root}/engine/status"

    @property
    def stats(self) -> str:
        """Engine counters, once a second (also the app's heartbeat)."""
        return f"{self.root}/engine/stats"

    # market data
    @property
    def instruments(self) -> str:
        return f"{self.root}/md/instruments"

    @property
    def feeds(self) -> str:
        """Retained health of each venue feed (state, age, reconnects, gaps)."""
        return f"{self.root}/md/feeds"

    @property
    def tickers(self) -> str:
        return f"{self.root}/md/tickers"

    def book(self, instrument_id: str) -> str:
        return f"{self.root}/md/book/{instrument_id}"

    def trades(self, instrument_id: str) -> str:
        return f"{self.root}/md/trades/{instrument_id}"

    def bar(self, timeframe: str, instrument_id: str) -> str:
        """The forming bar and the bars closed since the last flush."""
        return f"{self.root}/md/bar/{timeframe}/{instrument_id}"

    def bars(self, timeframe: str, instrument_id: str) -> str:
        """Retained history of closed bars, republished when a bar closes."""
        return f"{self.root}/md/bars/{timeframe}/{instrument_id}"

    # trading state and events
    @property
    def orders(self) -> str:
        """Retained snapshot of open and recent orders."""
        return f"{self.root}/oms/orders"

    @property
    def order_events(self) -> str:
        """Ordered order events and fills (not retained)."""
        return f"{self.root}/oms/events"

    @property
    def positions(self) -> str:
        return f"{self.root}/oms/positions"

    @property
    def account(self) -> str:
        return f"{self.root}/oms/account"

    @property
    def reconciliation(self) -> str:
        return f"{self.root}/oms/reconcile"

    @property
    def risk(self) -> str:
        """Retained risk state: kill switch, arming, paused instruments, limits."""
        return f"{self.root}/risk/state"

    # strategies and backtests
    @property
    def strategies(self) -> str:
        """Retained list of strategies with their state and PnL."""
        return f"{self.root}/strategy/list"

    @property
    def backtest_progress(self) -> str:
        """Retained progress of the newest backtest run."""
        return f"{self.root}/backtest/progress"

    @property
    def optimize_progress(self) -> str:
        """Retained progress and leaderboard of the newest optimization run."""
        return f"{self.root}/optimize/progress"

    # events and commands
    @property
    def log(self) -> str:
        return f"{self.root}/log"

    @property
    def commands(self) -> str:
        return f"{self.root}/cmd"

    def reply(self, client_id: str) -> str:
        if not _CLIENT_RE.match(client_id):
            raise ValueError(f"client id {client_id!r} must be letters, digits, '_' or '-'")
        return f"{self.root}/reply/{client_id}"

    def is_reply_topic(self, topic: str) -> bool:
        prefix = f"{self.root}/reply/"
        return topic.startswith(prefix) and bool(_CLIENT_RE.match(topic[len(prefix) :]))

    def instrument_of(self, topic: str) -> str:
        """The last topic level: the instrument id of a per-instrument topic."""
        return topic.rpartition("/")[2]
