"""Reading the journal back: events (a page at a time), fills, positions and state.

:class:`JournalReader` is the read side of :class:`~engine.journal.store.Journal` (which opens
the file and writes it); every read goes through one query helper that turns SQLite's errors into
:class:`JournalError`, and every event row is checked against its body when decoded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import msgspec

from engine.domain.orders import AnyOrderEvent, OrderFilled
from engine.domain.positions import Position
from engine.journal.errors import JournalError
from engine.journal.records import (
    FILL_COLUMNS,
    POSITION_COLUMNS,
    EventRecord,
    FillRecord,
    fill_from_row,
    position_from_row,
)

PAGE = 1000
"""Events read per query by :meth:`JournalReader.event_records`."""
TAGS: dict[type, str] = {kind: kind.__struct_config__.tag for kind in get_args(AnyOrderEvent)}
"""Event type -> its msgspec tag, stored in the ``kind`` column."""
EVENT_COLUMNS = "seq, ts, kind, client_order_id, instrument_id, body"


class JournalReader:
    """The journal's reads, over the connection its subclass opened (see the module docstring)."""

    path: Path
    _connection: sqlite3.Connection
    _decoder: msgspec.json.Decoder[AnyOrderEvent]

    def event_records(self, after_seq: int = 0) -> Iterator[EventRecord]:
        """Rows of ``events`` after ``after_seq``, in seq order, undecoded.

        Read a page at a time, so appending while iterating is safe (new rows are seen).
        """
        last = after_seq
        query = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        while True:
            rows = self._read(query, (last, PAGE))
            for row in rows:
                yield EventRecord(*row)
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    def fill_event_records(self) -> list[EventRecord]:
        """The ``OrderFilled`` rows of ``events``, undecoded, in seq order (a strategy's own
        positions are rebuilt from them at start: ``engine/strategy/own_state.py``)."""
        query = f"SELECT {EVENT_COLUMNS} FROM events WHERE kind = ? ORDER BY seq"
        return [EventRecord(*row) for row in self._read(query, (TAGS[OrderFilled],))]

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
        if TAGS[type(event)] != record.kind:
            raise self._bad_row(
                record.seq,
                f"the body is a {TAGS[type(event)]} event but the row says {record.kind}",
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
            value: object = msgspec.json.decode(rows[0][0])
            return value
        except msgspec.DecodeError as error:
            raise JournalError(
                f"journal {self.path}: state {key!r} is not valid JSON ({error})"
            ) from None

    def last_seq(self) -> int:
        """The highest event seq (0 for an empty journal)."""
        return int(self._read("SELECT coalesce(max(seq), 0) FROM events")[0][0])

    def _read(self, query: str, parameters: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self._connection.execute(query, parameters).fetchall()
        except sqlite3.Error as error:
            raise JournalError(f"cannot read journal {self.path}: {error}") from error
