"""Marks and exposure: what positions and open orders are worth right now, per currency."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderType
from engine.domain.positions import Position
from engine.market_state import InstrumentState
from engine.risk.money import ZERO, add, half_notional, notional_scale
from engine.risk.view import RiskView


def double_mark(market: InstrumentState | None) -> int:
    """Twice the mark price, raw: the last trade, else the mid (exact only doubled), else 0."""
    if market is None:
        return 0
    if market.last_price > 0:
        return 2 * market.last_price
    if market.best_bid > 0 and market.best_ask > 0:
        return market.best_bid + market.best_ask
    return 0


def position_value(
    position: Position, instrument: Instrument, market: InstrumentState | None
) -> Decimal:
    """``|quantity| * mark``; at its own cost when there is no mark yet (it was worth that)."""
    if position.quantity_raw == 0:
        return ZERO
    mark2 = double_mark(market)
    if mark2 == 0:
        return from_raw(abs(position.cost_raw), notional_scale(instrument))
    return half_notional(mark2, position.quantity_raw, instrument)


@dataclass(frozen=True, slots=True)
class Exposure:
    """Gross exposure in one currency, split so a denial can say where it comes from."""

    positions: Decimal
    open_orders: Decimal

    @property
    def total(self) -> Decimal:
        return add(self.positions, self.open_orders)


def gross_exposure(
    view: RiskView, currency: str, open_orders: Iterable[Order] | None = None
) -> Exposure:
    """Sum of ``|position| * mark`` and open order values over instruments quoted in ``currency``.

    Pass ``open_orders`` when the caller already has them as a list (pre-trade does).
    """
    position_total = ZERO
    for position in view.positions():
        instrument = view.instrument(position.instrument_id)
        if instrument is None or instrument.quote_currency != currency:
            continue
        position_total = add(
            position_total,
            position_value(position, instrument, view.market(position.instrument_id)),
        )
    # Sum each instrument's orders in raw integers (doubled, so a mid mark stays exact) and turn
    # the sum into a Decimal once: this runs on every order, over every open order.
    doubled: dict[str, int] = {}
    for order in view.open_orders() if open_orders is None else open_orders:
        leaves = order.leaves_raw
        if order.order_type is OrderType.LIMIT:
            doubled_raw = 2 * order.price_raw * leaves
        else:
            doubled_raw = double_mark(view.market(order.instrument_id)) * leaves
        doubled[order.instrument_id] = doubled.get(order.instrument_id, 0) + doubled_raw
    order_total = ZERO
    for instrument_id, doubled_raw in doubled.items():
        instrument = view.instrument(instrument_id)
        if instrument is None or instrument.quote_currency != currency:
            continue
        order_total = add(order_total, half_notional(doubled_raw, 1, instrument))
    return Exposure(positions=position_total, open_orders=order_total)
