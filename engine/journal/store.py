"""The journal: one SQLite file (WAL), appended to by the engine, read back after a restart.

Durability: every :meth:`Journal.append` and :meth:`Journal.record_command` is committed before it
returns. In WAL mode, ``synchronous="normal"`` survives the engine being killed at any instant
(``kill -9``, a crash): a commit is in the WAL file in the operating system's cache the moment it
returns. It does not fsync on commit, so a power loss or kernel crash can lose the last commits
(never corrupt the file). ``synchronous="full"`` fsyncs the WAL on every commit and survives power
loss too, at the price of one disk flush per append.

One engine process owns the file: a :class:`Journal` holds an exclusive lock beside it while it
is open (:mod:`engine.journal.owner_lock`), and a second one on the same file is refused with
:class:`JournalError`, naming the pid that has it. SQLite's own locks only serialize writes;
they would let two engines trade from one journal. Reading the file takes no lock. WAL needs a
local filesystem (shared memory and ``flock``); do not put the journal on a network share.

The connection is used from the thread that opened the journal (sqlite3's default check).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Literal

import msgspec

from engine.domain.orders import AnyOrderEvent, OrderFilled, OrderSide, OrderSubmitted
from engine.domain.positions import Position
from engine.journal import schema
from engine.journal.disk_space import DiskReserve, is_disk_full
from engine.journal.errors import JournalError
from engine.journal.owner_lock import OwnerLock
from engine.journal.reading import EVENT_COLUMNS, TAGS, JournalReader
from engine.journal.records import (
    FILL_COLUMNS,
    POSITION_COLUMNS,
    EventRecord,
    exact,
    position_to_row,
)

Synchronous = Literal["normal", "full", "off"]
"""``off`` (no fsync at all) is for scratch journals such as a backtest's, never the config's."""

BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another connection's lock before it fails."""
_ORDER_CACHE_SIZE = 65536
"""Orders whose instrument and side are kept in memory for fills (older ones are looked up)."""
_NO_STATE: Mapping[str, object] = MappingProxyType({})
MAX_AUDIT_ARGS_CHARS = 4096
"""Longer command arguments are kept in the audit trail as a summary."""
_AUDIT_HEAD = 512
_AUDIT_NAME_CHARS = 128

_INSERT_EVENT = (
    "INSERT INTO events (ts, kind, client_order_id, instrument_id, body) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_FILL = f"INSERT INTO fills ({FILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT_POSITION = (
    f"INSERT INTO positions ({POSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (instrument_id) DO UPDATE SET account = excluded.account, "
    "quantity_raw = excluded.quantity_raw, cost_raw = excluded.cost_raw, "
    "realized_raw = excluded.realized_raw, fees_raw = excluded.fees_raw, "
    "buy_quantity_raw = excluded.buy_quantity_raw, "
    "sell_quantity_raw = excluded.sell_quantity_raw, trades = excluded.trades, "
    "ts_last = excluded.ts_last"
)
_UPSERT_STATE = (
    "INSERT INTO state (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_INSERT_COMMAND = "INSERT INTO commands (ts, request_id, type, args, source) VALUES (?, ?, ?, ?, ?)"
_SUBMISSION_OF = (
    f"SELECT {EVENT_COLUMNS} FROM events "
    "WHERE client_order_id = ? AND kind IN ('submitted', 'denied') ORDER BY seq LIMIT 1"
)


class Journal(JournalReader):
    """Append-only SQLite journal (WAL) of commands, order events, fills, positions and state.

    See the module docstring for what survives a crash and how a second process is kept out;
    the reading side is :class:`~engine.journal.reading.JournalReader`.
    """

    def __init__(self, path: Path, *, synchronous: Synchronous | str = "normal") -> None:
        if synchronous not in ("normal", "full", "off"):
            raise ValueError(f"journal synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.path = Path(path)
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(AnyOrderEvent)
        self._orders: dict[str, tuple[str, OrderSide]] = {}
        """client_order_id -> (instrument_id, side) of orders already committed (bounded)."""
        self.space = DiskReserve(self.path.with_name(self.path.name + ".reserve"))
        """Room kept for a full disk (none unless :meth:`DiskReserve.keep` is called)."""
        self.audit_skipped = 0
        """Commands not added to the audit trail because the disk is full."""
        self._last_seqs: dict[int, int] = {}
        """id(event) -> seq of the last append's events (see :meth:`seq_of`)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JournalError(f"cannot open journal {self.path}: {error}") from error
        self._owner = OwnerLock(self.path)
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as error:
            self._owner.release()
            raise JournalError(f"cannot open journal {self.path}: {error}") from error
        try:
            self._configure(synchronous)
            schema.prepare(self._connection, self.path)
        except sqlite3.Error as error:
            self._connection.close()
            self._owner.release()
            raise JournalError(f"cannot open journal {self.path}: {error}") from error
        except BaseException:
            self._connection.close()
            self._owner.release()
            raise
        self._cursor = self._connection.cursor()

    def _configure(self, synchronous: str) -> None:
        connection = self._connection
        # The timeout first, so that switching to WAL waits for another opener's lock.
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if synchronous == "off":
            # A scratch journal (a backtest's): rollback journal in memory, one connection.
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
            connection.execute("PRAGMA journal_mode = MEMORY")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("PRAGMA foreign_keys = ON")
            return
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"journal {self.path}: SQLite refused WAL mode (got {mode!r})")
        connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        connection.execute("PRAGMA foreign_keys = ON")

    # --- writing --------------------------------------------------------------------------

    def append(
        self,
        events: Sequence[AnyOrderEvent],
        *,
        positions: Sequence[tuple[Position, str]] = (),
        state: Mapping[str, object] = _NO_STATE,
    ) -> list[int]:
        """Write ``events``, ``(position, account)`` upserts and state upserts in one transaction.

        Returns the events' sequence numbers, in order. Each ``OrderFilled`` also gets a row in
        ``fills`` with its order's instrument and side, from the order's submission (in this
        batch or already in the journal); a fill of an unknown order raises :class:`ValueError`
        and nothing is written. State values are stored as JSON (msgspec encodes structs,
        dataclasses, Decimal as text). Committed before it returns.
        """
        new_orders: dict[str, tuple[str, OrderSide]] = {}
        try:
            seqs = self._write(events, positions, state, new_orders)
        except sqlite3.Error as error:
            # A full disk: free the reserve and try once more in the room it leaves (fills and
            # exits must be journaled; the engine refuses new entries from here, disk_space.py).
            if not self.space.release_for(error):
                raise JournalError(f"cannot write to journal {self.path}: {error}") from error
            new_orders = {}
            try:
                seqs = self._write(events, positions, state, new_orders)
            except sqlite3.Error as again:
                raise JournalError(f"cannot write to journal {self.path}: {again}") from again
        self._remember(new_orders)
        # The bus carries each event's journal seq (OrderUpdate.seq): listeners run right after
        # the append that wrote their event, so the last batch is all they ask about.
        self._last_seqs = {id(event): seq for event, seq in zip(events, seqs, strict=True)}
        return seqs

    def _write(
        self,
        events: Sequence[AnyOrderEvent],
        positions: Sequence[tuple[Position, str]],
        state: Mapping[str, object],
        new_orders: dict[str, tuple[str, OrderSide]],
    ) -> list[int]:
        """One transaction of :meth:`append`; rolled back and re-raised on any failure."""
        seqs: list[int] = []
        connection = self._connection
        cursor = self._cursor
        connection.execute("BEGIN IMMEDIATE")
        try:
            fills: list[tuple[object, ...]] = []
            for event in events:
                seq, fill = self._insert_event(cursor, event, new_orders)
                seqs.append(seq)
                if fill is not None:
                    fills.append(fill)
            if fills:
                cursor.executemany(_INSERT_FILL, fills)
            if positions:
                rows = [position_to_row(position, account) for position, account in positions]
                cursor.executemany(_UPSERT_POSITION, rows)
            if state:
                encode = self._encoder.encode
                values = [(key, encode(value).decode()) for key, value in state.items()]
                cursor.executemany(_UPSERT_STATE, values)
            connection.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (disk full, I/O error).
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return seqs

    def seq_of(self, event: AnyOrderEvent) -> int | None:
        """The seq :meth:`append` gave ``event`` in its last call (None: not in that batch)."""
        return self._last_seqs.get(id(event))

    def _insert_event(
        self,
        cursor: sqlite3.Cursor,
        event: AnyOrderEvent,
        new_orders: dict[str, tuple[str, OrderSide]],
    ) -> tuple[int, tuple[object, ...] | None]:
        """Insert one event; returns its seq and, for a fill, its ``fills`` row."""
        client_order_id = event.client_order_id
        if isinstance(event, OrderSubmitted):
            # A repeated submission is a bug recovery reports; like recovery, keep the first.
            first = (
                new_orders.get(client_order_id)
                or self._orders.get(client_order_id)
                or (event.instrument_id, event.side)
            )
            new_orders[client_order_id] = first
            order: tuple[str, OrderSide] | None = first
            instrument_id: str | None = event.instrument_id
        else:
            order = new_orders.get(client_order_id) or self._order(client_order_id)
            instrument_id = order[0] if order is not None else None
        body = self._encoder.encode(event).decode()
        cursor.execute(
            _INSERT_EVENT, (event.ts, TAGS[type(event)], client_order_id, instrument_id, body)
        )
        seq = _rowid(cursor)
        if not isinstance(event, OrderFilled):
            return seq, None
        if order is None:
            raise ValueError(
                f"fill {event.trade_id} of order {client_order_id}: the order has no submission "
                f"in the journal"
            )
        return seq, (
            seq,
            event.ts,
            client_order_id,
            order[0],
            order[1].value,
            event.trade_id,
            exact(event.price_raw),
            exact(event.quantity_raw),
            exact(event.fee_raw),
            event.liquidity,
        )

    def _order(self, client_order_id: str) -> tuple[str, OrderSide] | None:
        """Instrument and side of a committed order, from memory or from its submission row."""
        known = self._orders.get(client_order_id)
        if known is not None:
            return known
        row = self._connection.execute(_SUBMISSION_OF, (client_order_id,)).fetchone()
        if row is None:
            return None
        submitted = self.decode(EventRecord(*row))
        assert isinstance(submitted, OrderSubmitted)
        known = (submitted.instrument_id, submitted.side)
        self._remember({client_order_id: known})
        return known

    def _remember(self, orders: Mapping[str, tuple[str, OrderSide]]) -> None:
        cache = self._orders
        for client_order_id, known in orders.items():
            cache.setdefault(client_order_id, known)
        while len(cache) > _ORDER_CACHE_SIZE:  # oldest first: dicts keep insertion order
            del cache[next(iter(cache))]

    def record_command(
        self, ts: int, request_id: str, type: str, args: Mapping[str, object], source: str
    ) -> int:
        """Add a received command (accepted or not) to the audit trail; returns its row id.

        Committed before it returns. Arguments that JSON cannot hold are kept as their text: the
        audit trail must record whatever arrived. Arguments longer than
        :data:`MAX_AUDIT_ARGS_CHARS` are stored as a summary (their size and their beginning):
        a rejected 10 MB payload must not fill the disk. Nothing is written while the disk is
        full (returns 0): the reserve is for fills and exits.
        """
        if self.space.full_reason:
            self.audit_skipped += 1
            return 0
        args_json = msgspec.json.encode(args, enc_hook=str).decode()
        if len(args_json) > MAX_AUDIT_ARGS_CHARS:
            summary = {"cut": f"{len(args_json):,} characters", "head": args_json[:_AUDIT_HEAD]}
            args_json = msgspec.json.encode(summary).decode()
        type = type[:_AUDIT_NAME_CHARS]
        request_id = request_id[:_AUDIT_NAME_CHARS]
        source = source[:_AUDIT_NAME_CHARS]
        try:
            cursor = self._connection.execute(
                _INSERT_COMMAND, (ts, request_id, type, args_json, source)
            )
        except sqlite3.Error as error:
            if is_disk_full(error):
                # The command goes on without its audit row (a trading command is then refused
                # by risk, or is an exit); the reserve is freed for the order events.
                self.space.release_for(error)
                self.audit_skipped += 1
                return 0
            raise JournalError(f"cannot write to journal {self.path}: {error}") from error
        return _rowid(cursor)

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent); the last connection to close checkpoints the WAL. The
        journal is then free for another engine."""
        self._connection.close()
        self._owner.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"


def _rowid(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row ``cursor`` just inserted (typed ``int | None``: None before any)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise JournalError("the journal did not report the row it inserted")
    return rowid
