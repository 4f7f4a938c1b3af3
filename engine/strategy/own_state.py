"""A strategy's own positions from the journal's fills, and the checks on what it asks to save.

Crash safety: a strategy's positions and fill count are never taken from a saved snapshot (it is
written at flush, apart from the fills, and lags them after a crash). At start they are rebuilt
from the fills of the strategy's own orders, as journaled (:func:`journal_fills` reads them,
:func:`positions_from_fills` replays them), the same replay the journal's recovery does for the
account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from engine.domain.ids import InstrumentId
from engine.domain.orders import Order, OrderFilled
from engine.domain.positions import Position
from engine.journal.errors import JournalError

if TYPE_CHECKING:
    from engine.journal.store import Journal
    from engine.market_state import MarketState

log = logging.getLogger("stom.strategy")

MAX_STATE_BYTES = 1_000_000
"""Largest ``save_state`` (as JSON) a strategy may keep: it is journaled at every save."""


def journal_fills(
    journal: Journal, orders: Mapping[str, Order], strategy_ids: Iterable[str]
) -> dict[str, list[tuple[Order, OrderFilled]]]:
    """The journal's fills of each strategy's own orders (by the order's ``strategy_id``), in
    journal order. A row that does not decode is left out (recovery has reported it)."""
    wanted = set(strategy_ids)
    found: dict[str, list[tuple[Order, OrderFilled]]] = {strategy_id: [] for strategy_id in wanted}
    for record in journal.fill_event_records():
        order = orders.get(record.client_order_id)
        if order is None or order.strategy_id not in wanted:
            continue
        try:
            event = journal.decode(record)
        except JournalError:
            continue
        if isinstance(event, OrderFilled):
            found[order.strategy_id].append((order, event))
    return found


def positions_from_fills(
    market: MarketState, strategy_id: str, fills: Iterable[tuple[Order, OrderFilled]]
) -> tuple[dict[int, Position], int]:
    """``(positions by instrument index, fill count)`` replayed from ``fills``."""
    positions: dict[int, Position] = {}
    count = 0
    dropped: set[str] = set()
    for order, fill in fills:
        try:
            index = market.index_of(InstrumentId(order.instrument_id))
        except (KeyError, ValueError):
            dropped.add(order.instrument_id)
            continue
        position = positions.get(index)
        if position is None:
            position = positions[index] = Position(order.instrument_id)
        try:
            position.apply_fill(
                order.side,
                fill.price_raw,
                fill.quantity_raw,
                fill.fee_raw,
                fill.ts,
                fee_base_raw=fill.fee_base_raw,
            )
        except ValueError:
            continue  # a fill recovery skipped too (it names it)
        count += 1
    for instrument_id in sorted(dropped):
        log.warning(
            "strategy %s: fills on %s left out of its position: instrument not traded here",
            strategy_id,
            instrument_id,
        )
    return positions, count


def checked_state(returned: object) -> tuple[dict[str, Any], str | None]:
    """What ``save_state`` returned, as plain JSON values, or ``({}, why it cannot be kept)``."""
    if not isinstance(returned, Mapping):
        return {}, f"returned a {type(returned).__name__}, not a dict"
    try:
        encoded = msgspec.json.encode(dict(returned))
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        return {}, f"returned what JSON cannot hold ({type(exc).__name__}: {exc})"
    if len(encoded) > MAX_STATE_BYTES:
        return {}, f"returned {len(encoded):,} bytes of JSON, above the {MAX_STATE_BYTES:,} limit"
    try:
        plain = msgspec.json.decode(encoded)
    except (msgspec.DecodeError, RecursionError) as exc:
        return {}, f"returned what JSON cannot hold back ({exc})"
    if not isinstance(plain, dict):  # pragma: no cover - a Mapping encodes as an object
        return {}, "did not return an object"
    return plain, None


def position_dict(position: Position) -> dict[str, int]:
    """A position as JSON (the strategies' saved state shows it; nothing restores from it but
    callers without a journal)."""
    return {
        "quantity_raw": position.quantity_raw,
        "cost_raw": position.cost_raw,
        "realized_raw": position.realized_raw,
        "fees_raw": position.fees_raw,
        "buy_quantity_raw": position.buy_quantity_raw,
        "sell_quantity_raw": position.sell_quantity_raw,
        "trades": position.trades,
        "ts_last": position.ts_last,
    }


def position_from(instrument_id: str, saved: Mapping[str, Any]) -> Position:
    position = Position(instrument_id)
    for name in position_dict(position):
        setattr(position, name, int(saved.get(name, 0)))
    return position
