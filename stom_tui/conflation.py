"""Conflation between the feed and the app: at most one message per topic waits in its queue.

The feed posts a message for every payload it receives, and the app handles them one at a time
in its queue, keys included. At the simulator's full rate a slow frame (a redraw, a busy CPU)
let the queue fill with stale snapshots: keys waited behind them and memory grew (issue 12,
finding 9: 12 of 28 keys shown within 200 ms, 102 -> 209 MB in five minutes).

Textual's own ``can_replace`` merges a message only with the one right behind it in the queue,
which the interleaving of tickers, books, trades and orders almost never gives. The
:class:`Conflator` instead keeps, per topic, the message already waiting: a newer payload is put
into it (snapshots: replaced; trades: appended, keeping the newest :data:`MAX_TRADES`) and no
new message is posted. The app calls :meth:`Conflator.taken` as it handles a message, and the
next payload of that topic is posted again. Events that must each be seen (order events, log
lines, engine status, risk transitions) are never conflated.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable

from textual.message import Message

from stom_tui.messages import (
    AccountUpdated,
    BookUpdated,
    EngineStatsReceived,
    FeedsHealthUpdated,
    OrdersUpdated,
    PositionsUpdated,
    StrategiesUpdated,
    TickersUpdated,
    TradesReceived,
)

STUCK_S = 2.0
"""A message waiting longer than this is not relied on (a handler that never calls
:meth:`Conflator.taken` must not freeze its topic): the next payload is posted anew."""
MAX_TRADES = 1000
"""Trades kept in one waiting message (the chart shows the newest ``tick_points`` anyway)."""

SNAPSHOTS: tuple[type[Message], ...] = (
    TickersUpdated,
    BookUpdated,
    OrdersUpdated,
    PositionsUpdated,
    AccountUpdated,
    StrategiesUpdated,
    EngineStatsReceived,
    FeedsHealthUpdated,
)
"""Each payload is the whole state of its topic: the newest makes a waiting one redundant."""
CONFLATED: tuple[type[Message], ...] = (*SNAPSHOTS, TradesReceived)
"""Messages folded into one waiting per topic (built once: this is checked per payload)."""


class Conflator:
    """Per-topic waiting messages; see the module docstring."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, tuple[Message, float]] = {}
        self._keys: dict[int, Hashable] = {}
        """id(message) -> its key, to find it again when it is taken."""
        self.conflated = 0
        """Payloads folded into a waiting message instead of being posted."""

    def offer(self, key: Hashable, message: Message) -> bool:
        """True: post ``message`` (and it waits under ``key``); False: its payload went into the
        message already waiting for ``key``, nothing to post."""
        if not isinstance(message, CONFLATED):
            return True
        now = time.monotonic()
        waiting, since = self._waiting.get(key, (None, 0.0))
        if waiting is None or type(waiting) is not type(message) or now - since > STUCK_S:
            if waiting is not None:
                self._keys.pop(id(waiting), None)
            self._waiting[key] = (message, now)
            self._keys[id(message)] = key
            return True
        if isinstance(message, TradesReceived):
            assert isinstance(waiting, TradesReceived)
            merged = waiting.trades.trades + message.trades.trades
            waiting.trades.trades = merged[-MAX_TRADES:]
            waiting.trades.skipped += message.trades.skipped + max(0, len(merged) - MAX_TRADES)
        else:
            # Every conflatable message is a dataclass (stom_tui/messages.py); Message is not.
            for field in dataclasses.fields(message):  # type: ignore[arg-type]
                setattr(waiting, field.name, getattr(message, field.name))
        self.conflated += 1
        return False

    def taken(self, message: Message) -> None:
        """``message`` is being handled: the next payload of its topic is posted anew."""
        key = self._keys.pop(id(message), None)
        if key is not None and self._waiting.get(key, (None, 0.0))[0] is message:
            del self._waiting[key]

    @property
    def waiting(self) -> int:
        """Messages posted and not yet handled (at most one per topic)."""
        return len(self._waiting)
