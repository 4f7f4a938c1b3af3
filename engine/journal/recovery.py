"""Rebuild orders, fills and positions from the journal after a restart (or a crash).

The events are the source of truth: orders are rebuilt with :meth:`Order.apply`, positions by
replaying every fill that applied into a fresh :class:`Position` with its order's side. The
``fills`` and ``positions`` tables are then checked against that replay. Recovery never stops at a
bad row: a row that does not decode, an event for an unknown order or one its order cannot take
(:class:`InvalidTransition`) is skipped and described in ``differences``, naming its seq, so the
engine can start, show the differences and let the user decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain.orders import (
    AnyOrderEvent,
    InvalidTransition,
    Order,
    OrderFilled,
    OrderSubmitted,
)
from engine.domain.positions import Position
from engine.journal.errors import JournalError
from engine.journal.records import FillRecord
from engine.journal.store import Journal

_POSITION_FIELDS = (
    "quantity_raw",
    "cost_raw",
    "realized_raw",
    "fees_raw",
    "buy_quantity_raw",
    "sell_quantity_raw",
    "trades",
    "ts_last",
)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What the journal says the engine had when it stopped."""

    orders: dict[str, Order]
    """By client order id, in submission order."""
    positions: dict[str, Position]
    """By instrument id, rebuilt from the fills."""
    fills: list[OrderFilled]
    """Every fill that applied to its order, in seq order."""
    last_seq: int
    """The last event seq read (0 for an empty journal)."""
    differences: list[str] = field(default_factory=list)
    """One line per skipped row or table that disagrees with the events; empty when all agree."""


def recover(journal: Journal) -> Recovered:
    """Replay the whole journal; see the module docstring."""
    replay = _Replay()
    for record in journal.event_records():
        replay.last_seq = record.seq
        try:
            event = journal.decode(record)
        except JournalError as error:
            replay.differences.append(f"{error}: skipped")
            replay.unreadable.add(record.seq)
            continue
        replay.apply(record.seq, event)
    differences = replay.differences
    differences += _fill_table_differences(
        journal.fills(), replay.expected_fills, replay.unreadable
    )
    differences += _position_differences(journal.positions(), replay.positions)
    return Recovered(
        orders=replay.orders,
        positions=replay.positions,
        fills=replay.fills,
        last_seq=replay.last_seq,
        differences=differences,
    )


class _Replay:
    """The state of a replay in progress."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.fills: list[OrderFilled] = []
        self.expected_fills: dict[int, FillRecord | None] = {}
        """seq -> the fills row each decoded fill event should have (None: order unknown)."""
        self.differences: list[str] = []
        self.unreadable: set[int] = set()
        """Seqs of rows that did not decode (already in ``differences``)."""
        self.last_seq = 0

    def apply(self, seq: int, event: AnyOrderEvent) -> None:
        client_order_id = event.client_order_id
        if isinstance(event, OrderSubmitted):  # and OrderDenied
            if client_order_id in self.orders:
                self._skip(seq, f"order {client_order_id} is submitted a second time")
            else:
                self.orders[client_order_id] = Order(event)
            return
        order = self.orders.get(client_order_id)
        if isinstance(event, OrderFilled):
            self.expected_fills[seq] = _fill_record(seq, event, order)
        if order is None:
            self._skip(seq, f"{type(event).__name__} for order {client_order_id}, never submitted")
            return
        if isinstance(event, OrderFilled) and (
            event.price_raw <= 0 or event.fee_raw < 0 or event.fee_base_raw < 0
        ):
            # Checked before the order takes the fill, so the order and the position stay in
            # step (Position.apply_fill would refuse it after Order.apply had counted it).
            self._skip(
                seq,
                f"fill {event.trade_id} of order {client_order_id} has price {event.price_raw} "
                f"and fee {event.fee_raw}",
            )
            return
        try:
            order.apply(event)
        except InvalidTransition as error:
            self._skip(seq, str(error))
            return
        if isinstance(event, OrderFilled):
            instrument_id = order.instrument_id
            position = self.positions.get(instrument_id)
            if position is None:
                position = self.positions[instrument_id] = Position(instrument_id)
            position.apply_fill(
                order.side,
                event.price_raw,
                event.quantity_raw,
                event.fee_raw,
                event.ts,
                fee_base_raw=event.fee_base_raw,
            )
            self.fills.append(event)

    def _skip(self, seq: int, what: str) -> None:
        self.differences.append(f"event seq {seq}: {what}: skipped")


def _fill_record(seq: int, event: OrderFilled, order: Order | None) -> FillRecord | None:
    if order is None:
        return None
    return FillRecord(
        seq=seq,
        ts=event.ts,
        client_order_id=event.client_order_id,
        instrument_id=order.instrument_id,
        side=order.side,
        trade_id=event.trade_id,
        price_raw=event.price_raw,
        quantity_raw=event.quantity_raw,
        fee_raw=event.fee_raw,
        liquidity=event.liquidity,
    )


def _fill_table_differences(
    stored: list[FillRecord], expected: dict[int, FillRecord | None], unreadable: set[int]
) -> list[str]:
    differences: list[str] = []
    stored_by_seq = {fill.seq: fill for fill in stored}
    for seq, fill in stored_by_seq.items():
        if seq in unreadable:
            continue
        if seq not in expected:
            differences.append(f"fills row seq {seq}: no fill event has this seq")
            continue
        wanted = expected[seq]
        if wanted is not None and wanted != fill:
            differences.append(f"fills row seq {seq}: stored {fill}, the event gives {wanted}")
    differences += [
        f"fill event seq {seq}: missing from the fills table"
        for seq in expected
        if seq not in stored_by_seq
    ]
    return differences


def _position_differences(stored: dict[str, Position], rebuilt: dict[str, Position]) -> list[str]:
    differences: list[str] = []
    for instrument_id in sorted(stored.keys() | rebuilt.keys()):
        have = _fields(stored.get(instrument_id))
        want = _fields(rebuilt.get(instrument_id))
        if have == want:
            continue
        changed = ", ".join(
            f"{name} {stored_value} (fills give {rebuilt_value})"
            for name, stored_value, rebuilt_value in zip(_POSITION_FIELDS, have, want, strict=True)
            if stored_value != rebuilt_value
        )
        where = "stored" if instrument_id in stored else "not stored, taken as zero"
        differences.append(f"position {instrument_id} ({where}): {changed}")
    return differences


def _fields(position: Position | None) -> tuple[int, ...]:
    """The compared fields; a missing position counts as a fresh one (all zero)."""
    if position is None:
        return (0,) * len(_POSITION_FIELDS)
    return tuple(getattr(position, name) for name in _POSITION_FIELDS)
