"""The journal's tables, and the migrations that build them.

The file is marked as a STOM journal by ``PRAGMA application_id`` and carries its schema version in
``PRAGMA user_version``: version N is the state after ``MIGRATIONS[:N]``. A schema change appends
one migration (never edits a released one); opening an older file applies the missing migrations
in one transaction, and a file from a newer STOM is refused rather than misread.

Raw prices, quantities and money columns have **no declared type** on purpose: with INTEGER (or
NUMERIC) affinity SQLite turns an integer beyond 64 bits into a REAL and rounds it, while an
untyped column keeps what it is given. The store writes them as INTEGER when they fit in 64 bits
(always, in practice) and as exact decimal text when they do not, and reads both back as ``int``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.journal.errors import JournalError

APPLICATION_ID = 0x53544F4D
"""``STOM`` in ASCII: tells a journal apart from any other SQLite file."""

_VERSION_1 = (
    # One row per order event. ``body`` is the whole event as msgspec JSON (the source of
    # truth); the other columns are copies for queries. ``seq`` is the rowid: never reused,
    # because rows are never deleted.
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        instrument_id TEXT,
        body TEXT NOT NULL
    )
    """,
    "CREATE INDEX events_by_order ON events (client_order_id)",
    # Every OrderFilled again, flat, with the side and instrument of its order.
    """
    CREATE TABLE fills (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        ts INTEGER NOT NULL,
        client_order_id TEXT NOT NULL,
        instrument_id TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        trade_id TEXT NOT NULL,
        price_raw NOT NULL,
        quantity_raw NOT NULL,
        fee_raw NOT NULL,
        liquidity TEXT NOT NULL
    )
    """,
    "CREATE INDEX fills_by_order ON fills (client_order_id)",
    # The positions as the engine last saw them, written in the same transaction as the fills
    # that changed them; recovery checks them against a replay of the fills.
    """
    CREATE TABLE positions (
        instrument_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        quantity_raw NOT NULL,
        cost_raw NOT NULL,
        realized_raw NOT NULL,
        fees_raw NOT NULL,
        buy_quantity_raw NOT NULL,
        sell_quantity_raw NOT NULL,
        trades INTEGER NOT NULL,
        ts_last INTEGER NOT NULL
    )
    """,
    # Risk state, balances, protective exits: one JSON document per key.
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Every command received, accepted or not: the audit trail.
    """
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        type TEXT NOT NULL,
        args TEXT NOT NULL,
        source TEXT NOT NULL
    )
    """,
    "CREATE INDEX commands_by_request ON commands (request_id)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_VERSION_1,)
SCHEMA_VERSION = len(MIGRATIONS)


def prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Check that ``path`` is a journal this STOM can read, and bring it to ``SCHEMA_VERSION``.

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    """
    application_id, version = _identity(connection)
    # A new journal is an empty file; anything else without our id belongs to something else.
    if application_id != APPLICATION_ID and (application_id != 0 or _has_tables(connection)):
        raise JournalError(f"{path} is an SQLite database but not a STOM journal")
    _check_version(version, path)
    if version == SCHEMA_VERSION:
        return
    # IMMEDIATE takes the write lock first, so two engines opening a new file do not both migrate.
    connection.execute("BEGIN IMMEDIATE")
    try:
        _, version = _identity(connection)
        _check_version(version, path)
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _identity(connection: sqlite3.Connection) -> tuple[int, int]:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return application_id, version


def _has_tables(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def _check_version(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path} is a STOM journal of schema version {version}, newer than this STOM "
            f"reads (up to {SCHEMA_VERSION}): run the newer STOM that wrote it, or start a new "
            f"journal file"
        )
