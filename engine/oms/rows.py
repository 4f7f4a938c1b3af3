"""Domain objects to wire rows (exact decimal text) for the bus and command replies."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.fixed_point import format_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderFilled, OrderType
from engine.domain.positions import Position
from engine.oms.account import PaperAccount
from engine.oms.oms import Oms
from engine.protocol import trading as t


def _money(raw: int, instrument: Instrument) -> str:
    return format_raw(raw, instrument.price_precision + instrument.size_precision)


def _normalized(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def order_row(order: Order, instrument: Instrument) -> t.OrderRow:
    avg = None
    if order.filled_raw:
        avg = _normalized(
            Decimal(order.filled_notional_raw)
            / Decimal(order.filled_raw)
            / (Decimal(10) ** instrument.price_precision)
        )
    return t.OrderRow(
        client_order_id=order.client_order_id,
        instrument_id=order.instrument_id,
        side=order.side.value,
        type=order.order_type.value,
        tif=order.time_in_force.value,
        price=(
            instrument.format_price(order.price_raw)
            if order.order_type is OrderType.LIMIT
            else None
        ),
        quantity=instrument.format_size(order.quantity_raw),
        filled=instrument.format_size(order.filled_raw),
        avg_price=avg,
        fee=_money(order.fee_raw, instrument),
        currency=instrument.quote_currency,
        status=order.status.value,
        strategy_id=order.strategy_id,
        venue_order_id=order.venue_order_id,
        reason=order.reason,
        replaces=order.replaces,
        ts_created=order.ts_created,
        ts_last=order.ts_last,
    )


def fill_row(fill: OrderFilled, order: Order, instrument: Instrument) -> t.FillRow:
    return t.FillRow(
        ts=fill.ts,
        client_order_id=fill.client_order_id,
        trade_id=fill.trade_id,
        instrument_id=order.instrument_id,
        side=order.side.value,
        price=instrument.format_price(fill.price_raw),
        quantity=instrument.format_size(fill.quantity_raw),
        fee=_money(fill.fee_raw, instrument),
        currency=instrument.quote_currency,
        liquidity=fill.liquidity,
    )


def position_row(
    position: Position,
    instrument: Instrument,
    mark_raw: int,
    levels: tuple[int | None, int | None, int | None] = (None, None, None),
) -> t.PositionRow:
    average = position.average_price(instrument.price_precision)
    stop, target, trailing = levels
    return t.PositionRow(
        instrument_id=position.instrument_id,
        quantity=instrument.format_size(position.quantity_raw),
        avg_price=_normalized(average) if average is not None else None,
        last=instrument.format_price(mark_raw) if mark_raw else None,
        unrealized=_money(position.unrealized_raw(mark_raw), instrument),
        realized=_money(position.realized_raw, instrument),
        fees=_money(position.fees_raw, instrument),
        currency=instrument.quote_currency,
        stop_loss=instrument.format_price(stop) if stop else None,
        take_profit=instrument.format_price(target) if target else None,
        trailing_stop=instrument.format_price(trailing) if trailing else None,
        ts_last=position.ts_last,
    )


def balance_rows(account: PaperAccount) -> list[t.BalanceRow]:
    return [
        t.BalanceRow(
            currency=currency, free=_normalized(balance.free), locked=_normalized(balance.locked)
        )
        for currency, balance in sorted(account.balances.items())
    ]


def position_rows(oms: Oms) -> list[t.PositionRow]:
    """Every position the OMS holds, marked to the current market, with its exit levels."""
    rows = []
    for instrument_id, position in oms.positions.items():
        state = oms.market_state(instrument_id)
        if state is not None:
            rows.append(
                position_row(
                    position,
                    state.instrument,
                    oms.mark_price(state),
                    oms.exit_levels(instrument_id),
                )
            )
    return rows
