"""The journal: one SQLite file (WAL), appended to by the engine, read back after a restart.

Durability: every :meth:`Journal.append` and :meth:`Journal.record_command` is committed before it
returns. In WAL mode, ``synchronous="normal"`` survives the engine being killed at any instant
(``kill -9``, a crash): a commit is in the WAL file in the operating system's cache the moment it
returns. It does not fsync on commit, so a power loss or kernel crash can lose the last commits
(never corrupt the file). ``synchronous="full"`` fsyncs the WAL on every commit and survives power
loss too, at the price of one disk flush per append.

One engine process owns the file. SQLite's locks keep a second process that opens the same
journal from corrupting it (writes are serialized; a writer waits up to ``busy_timeout`` and then
fails with :class:`JournalError`), but they do not stop two engines from trading from the same
journal: the node must not start a second engine on it. WAL needs a local filesystem (shared
memory); do not put the journal on a network share.

The connection is used from the thread that opened the journal (sqlite3's default check).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal, get_args

import msgspec

from engine.domain.orders import AnyOrderEvent, OrderFilled, OrderSide, OrderSubmitted
from engine.domain.positions import Position
from engine.journal import schema
from engine.journal.errors import JournalError
from engine.journal.records import (
    FILL_COLUMNS,
    POSITION_COLUMNS,
    EventRecord,
    FillRecord,
    exact,
    fill_from_row,
    position_from_row,
    position_to_row,
)

Synchronous = Literal["normal", "full", "off"]
"""``off`` (no fsync at all) is for scratch journals such as a backtest's, never the config's."""

BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another connection's lock before it fails."""
_PAGE = 1000
"""Events read per query by :meth:`Journal.event_records`."""
_ORDER_CACHE_SIZE = 65536
"""Orders whose instrument and side are kept in memory for fills (older ones are looked up)."""
_NO_STATE: Mapping[str, object] = MappingProxyType({})

_TAGS: dict[type, str] = {kind: kind.__struct_config__.tag for kind in get_args(AnyOrderEvent)}
"""Event type -> its msgspec tag, stored in the ``kind`` column."""

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
_EVENT_COLUMNS = "seq, ts, kind, client_order_id, instrument_id, body"
_SUBMISSION_OF = (
    f"SELECT {_EVENT_COLUMNS} FROM events "
    "WHERE client_order_id = ? AND kind IN ('submitted', 'denied') ORDER BY seq LIMIT 1"
)


class Journal:
    """Append-only SQLite journal (WAL) of commands, order events, fills, positions and state.

    See the module docstring for what survives a crash and how a second process is kept out.
    """

    def __init__(self, path: Path, *, synchronous: Synchronous | str = "normal") -> None:
        if synchronous not in ("normal", "full", "off"):
            raise ValueError(f"journal synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.path = Path(path)
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(AnyOrderEvent)
        self._orders: dict[str, tuple[str, OrderSide]] = {}
        """client_order_id -> (instrument_id, side) of orders already committed (bounded)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise JournalError(f"cannot open journal {self.path}: {error}") from error
        try:
            self._configure(synchronous)
            schema.prepare(self._connection, self.path)
        except sqlite3.Error as error:
            self._connection.close()
            raise JournalError(f"cannot open journal {self.path}: {error}") from error
        except BaseException:
            self._connection.close()
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
        seqs: list[int] = []
        connection = self._connection
        cursor = self._cursor
        try:
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
        except sqlite3.Error as error:
            raise JournalError(f"cannot write to journal {self.path}: {error}") from error
        self._remember(new_orders)
        return seqs

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
            order = (
                new_orders.get(client_order_id)
                or self._orders.get(client_order_id)
                or (event.instrument_id, event.side)
            )
            new_orders[client_order_id] = order
            instrument_id: str | None = event.instrument_id
        else:
            order = new_orders.get(client_order_id) or self._order(client_order_id)
            instrument_id = order[0] if order is not None else None
        body = self._encoder.encode(event).decode()
        cursor.execute(
            _INSERT_EVENT, (event.ts, _TAGS[type(event)], client_order_id, instrument_id, body)
        )
        seq: int = cursor.lastrowid  # type: ignore[assignment]
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
        audit trail must record whatever arrived.
        """
        args_json = msgspec.json.encode(args, enc_hook=str).decode()
        try:
            cursor = self._connection.execute(
                _INSERT_COMMAND, (ts, request_id, type, args_json, source)
            )
        except sqlite3.Error as error:
            raise JournalError(f"cannot write to journal {self.path}: {error}") from error
        return cursor.lastrowid  # type: ignore[return-value]

    # --- reading --------------------------------------------------------------------------

    def event_records(self, after_seq: int = 0) -> Iterator[EventRecord]:
        """Rows of ``events`` after ``after_seq``, in seq order, undecoded.

        Read a page at a time, so appending while iterating is safe (new rows are seen).
        """
        last = after_seq
        query = f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        while True:
            rows = self._read(query, (last, _PAGE))
            for row in rows:
                yield EventRecord(*row)
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def decode(self, record: EventRecord) -> AnyOrderEvent:
        """The domain event stored in ``record``; :class:`JournalError` if the row is bad."""
        try:
            event = self._decoder.decode(record.body)
        except msgspec.DecodeError as error:
            raise self._bad_row(record.seq, f"the body is not an order event ({error})") from None
        if event.client_order_id != record.client_order_id:
            raise self._bad_row(
                record.seq,
                f"the body is for order {event.client_order_id} but the row says "
                f"{record.client_order_id}",
            )
        if _TAGS[type(event)] != record.kind:
            raise self._bad_row(
                record.seq,
                f"the body is a {_TAGS[type(event)]} event but the row says {record.kind}",
            )
        return event

    def _bad_row(self, seq: int, what: str) -> JournalError:
        return JournalError(f"journal {self.path}, event seq {seq}: {what}")

    def events(self, after_seq: int = 0) -> Iterator[tuple[int, AnyOrderEvent]]:
        """``(seq, event)`` after ``after_seq`` in seq order; a bad row raises JournalError."""
        for record in self.event_records(after_seq):
            yield record.seq, self.decode(record)

    def fills(self) -> list[FillRecord]:
        """Every row of the ``fills`` table, in seq order."""
        rows = self._read(f"SELECT {FILL_COLUMNS} FROM fills ORDER BY seq")
        try:
            return [fill_from_row(row) for row in rows]
        except ValueError as error:
            raise JournalError(f"journal {self.path}: a fills row is bad: {error}") from error

    def positions(self) -> dict[str, Position]:
        """The ``positions`` table as stored, by instrument id."""
        rows = self._read(f"SELECT {POSITION_COLUMNS} FROM positions ORDER BY instrument_id")
        try:
            return {row[0]: position_from_row(row) for row in rows}
        except ValueError as error:
            raise JournalError(f"journal {self.path}: a positions row is bad: {error}") from error

    def position_accounts(self) -> dict[str, str]:
        """The account each stored position belongs to, by instrument id."""
        return dict(self._read("SELECT instrument_id, account FROM positions"))

    def state(self, key: str) -> object | None:
        """The JSON value stored under ``key`` (plain dicts, lists, text, numbers), or None.

        Decimals come back as text; ``msgspec.convert(value, SomeType)`` turns the value back
        into a typed structure.
        """
        rows = self._read("SELECT value FROM state WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return msgspec.json.decode(rows[0][0])
        except msgspec.DecodeError as error:
            raise JournalError(
                f"journal {self.path}: state {key!r} is not valid JSON ({error})"
            ) from None

    def last_seq(self) -> int:
        """The highest event seq (0 for an empty journal)."""
        return self._read("SELECT coalesce(max(seq), 0) FROM events")[0][0]

    def _read(self, query: str, parameters: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self._connection.execute(query, parameters).fetchall()
        except sqlite3.Error as error:
            raise JournalError(f"cannot read journal {self.path}: {error}") from error

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent); the last connection to close checkpoints the WAL."""
        self._connection.close()

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
