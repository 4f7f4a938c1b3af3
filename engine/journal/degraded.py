"""Degraded mode: what the engine does when its journal's disk is full.

The journal reports the condition once (:class:`~engine.journal.disk_space.DiskReserve`), having
freed its reserve for the writes still to come. From then on:

* **recording stops first**: the tick recorder drops its buffer and writes nothing more (it also
  stops by itself before the disk is full: ``engine/recorder.py``, ``MIN_FREE_BYTES``);
* **new entries are refused**: pre-trade risk denies every order that would open or add to a
  position (rule ``disk_full``); orders that reduce one pass, so exits, stops, a flatten and the
  kill switch's flatten still work, and open orders keep working (their fills are journaled in
  the reserve); the audit trail of commands pauses;
* **the console and alerts say why**: ``engine/status`` says ``degraded`` with the reason (the
  console's status line and log show it) and an ``engine`` alert is sent.

The engine leaves degraded mode when it restarts with room on the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.journal.disk_space import RESERVE_BYTES

if TYPE_CHECKING:
    from engine.journal.store import Journal
    from engine.recorder import Recorder
    from engine.risk.pre_trade import PreTradeRisk

log = logging.getLogger("stom.journal")


class DiskFullMode:
    """Keeps the journal's reserve and puts the engine in degraded mode when the disk fills."""

    def __init__(
        self,
        journal: Journal,
        pre_trade: PreTradeRisk,
        recorder: Recorder | None,
        *,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self._pre_trade = pre_trade
        self._recorder = recorder
        self.listeners: list[Callable[[str], None]] = []
        """Called once, with the reason, after entries are refused (the node: status, alerts)."""
        self.reason = ""
        """Why the engine is degraded; empty while it is not."""
        space = journal.space
        space.listeners.append(self._enter)
        if not space.keep(reserve_bytes):
            log.critical("no room for the journal's reserve: starting degraded")

    def _enter(self, reason: str) -> None:
        if self.reason:
            return
        self.reason = reason
        if self._recorder is not None:
            self._recorder.stop(f"the disk is full ({reason})")
        self._pre_trade.disk_full = reason
        log.critical(
            "degraded: %s; new entries are refused, open orders, exits and cancels go on;"
            " make room on the disk and restart the engine",
            reason,
        )
        for listener in self.listeners:
            listener(reason)
