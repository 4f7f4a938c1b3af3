"""Rows of the journal as Python values, and the conversions between them and SQLite rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.domain.orders import Liquidity, OrderSide
from engine.domain.positions import Position

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of the ``events`` table, not yet decoded (see :meth:`Journal.decode`)."""

    seq: int
    ts: int
    kind: str
    client_order_id: str
    instrument_id: str | None
    body: str


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One row of the ``fills`` table: an ``OrderFilled`` with its order's instrument and side."""

    seq: int
    ts: int
    client_order_id: str
    instrument_id: str
    side: OrderSide
    trade_id: str
    price_raw: int
    quantity_raw: int
    fee_raw: int
    liquidity: Liquidity


FILL_COLUMNS = (
    "seq, ts, client_order_id, instrument_id, side, trade_id, price_raw, quantity_raw, fee_raw, "
    "liquidity"
)
POSITION_COLUMNS = (
    "instrument_id, account, quantity_raw, cost_raw, realized_raw, fees_raw, buy_quantity_raw, "
    "sell_quantity_raw, trades, ts_last"
)


def exact(raw: int) -> int | str:
    """``raw`` as SQLite can store it exactly: an INTEGER if it fits in 64 bits, else its text."""
    return raw if _INT64_MIN <= raw <= _INT64_MAX else str(raw)


def fill_from_row(row: tuple[Any, ...]) -> FillRecord:
    """A ``fills`` row (columns in :data:`FILL_COLUMNS` order); raw values may be text."""
    seq, ts, client_order_id, instrument_id, side, trade_id, price, quantity, fee, liquidity = row
    return FillRecord(
        seq=seq,
        ts=ts,
        client_order_id=client_order_id,
        instrument_id=instrument_id,
        side=OrderSide(side),
        trade_id=trade_id,
        price_raw=int(price),
        quantity_raw=int(quantity),
        fee_raw=int(fee),
        liquidity=liquidity,
    )


def position_to_row(position: Position, account: str) -> tuple[object, ...]:
    """The ``positions`` row of ``position`` (columns in :data:`POSITION_COLUMNS` order)."""
    return (
        position.instrument_id,
        account,
        exact(position.quantity_raw),
        exact(position.cost_raw),
        exact(position.realized_raw),
        exact(position.fees_raw),
        exact(position.buy_quantity_raw),
        exact(position.sell_quantity_raw),
        position.trades,
        position.ts_last,
    )


def position_from_row(row: tuple[Any, ...]) -> Position:
    """A ``positions`` row back as a :class:`Position` (the account is not part of it)."""
    instrument_id, _account, quantity, cost, realized, fees, bought, sold, trades, ts_last = row
    position = Position(instrument_id)
    position.quantity_raw = int(quantity)
    position.cost_raw = int(cost)
    position.realized_raw = int(realized)
    position.fees_raw = int(fees)
    position.buy_quantity_raw = int(bought)
    position.sell_quantity_raw = int(sold)
    position.trades = trades
    position.ts_last = ts_last
    return position
