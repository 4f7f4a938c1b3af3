"""The engine's journal: SQLite (WAL), the single source of truth for orders, fills and positions.

Everything the engine acts on is committed here first (see ``docs/trading-core.md``); after a
restart, :func:`recover` rebuilds the orders and positions from it. :mod:`.store` holds the
durability and locking story and the writes, :mod:`.reading` the reads, :mod:`.schema` the tables
and their versions.
"""

from __future__ import annotations

from engine.journal.errors import JournalError
from engine.journal.records import EventRecord, FillRecord
from engine.journal.recovery import Recovered, recover
from engine.journal.schema import SCHEMA_VERSION
from engine.journal.store import Journal

__all__ = [
    "SCHEMA_VERSION",
    "EventRecord",
    "FillRecord",
    "Journal",
    "JournalError",
    "Recovered",
    "recover",
]
