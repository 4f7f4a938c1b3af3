"""Journal test data: order events as the OMS writes them, positions built from fills, and a raw
SQLite connection to the journal file (for the journal's and recovery's tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.domain.orders import (
    AnyOrderEvent,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.domain.positions import Position

BTC = "KRW-BTC.SIM"
SAMSUNG = "005930.SIM"


def submitted(
    client_order_id: str,
    side: OrderSide = OrderSide.BUY,
    *,
    quantity_raw: int = 10,
    price_raw: int = 100,
    instrument_id: str = BTC,
    ts: int = 1,
) -> OrderSubmitted:
    return OrderSubmitted(
        ts=ts,
        client_order_id=client_order_id,
        instrument_id=instrument_id,
        side=side,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity_raw=quantity_raw,
        price_raw=price_raw,
    )


def filled(
    client_order_id: str,
    trade_id: str,
    quantity_raw: int,
    price_raw: int = 100,
    *,
    fee_raw: int = 3,
    ts: int = 5,
) -> OrderFilled:
    return OrderFilled(
        ts=ts,
        client_order_id=client_order_id,
        trade_id=trade_id,
        price_raw=price_raw,
        quantity_raw=quantity_raw,
        fee_raw=fee_raw,
        liquidity="maker",
    )


def accepted(client_order_id: str, ts: int = 2) -> OrderAccepted:
    return OrderAccepted(ts=ts, client_order_id=client_order_id, venue_order_id=f"V-{ts}")


def one_of_each() -> list[AnyOrderEvent]:
    """Every event type, with every optional field away from its default."""
    return [
        OrderSubmitted(
            ts=1,
            client_order_id="a",
            instrument_id=BTC,
            side=OrderSide.SELL,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            quantity_raw=123_456_789,
            price_raw=0,
            strategy_id="scalper",
            replaces="z",
        ),
        OrderDenied(
            ts=2,
            client_order_id="b",
            instrument_id=SAMSUNG,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.FOK,
            quantity_raw=5,
            price_raw=71_000,
            rule="max_order_notional",
            reason="50,000,000 KRW at most",
        ),
        OrderAccepted(ts=3, client_order_id="a", venue_order_id="P-1"),
        OrderFilled(
            ts=4,
            client_order_id="a",
            trade_id="T-1",
            price_raw=95_000_000,
            quantity_raw=1,
            fee_raw=47_500,
            liquidity="taker",
        ),
        OrderPendingCancel(ts=5, client_order_id="a"),
        OrderCancelRejected(ts=6, client_order_id="a", reason="too late"),
        OrderCanceled(ts=7, client_order_id="a", reason="user"),
        OrderRejected(ts=8, client_order_id="c", reason="insufficient balance"),
        OrderExpired(ts=9, client_order_id="d", reason="ioc remainder"),
    ]


def position_of(instrument_id: str, *fills: tuple[OrderSide, int, int, int]) -> Position:
    position = Position(instrument_id)
    for ts, (side, price_raw, quantity_raw, fee_raw) in enumerate(fills, start=1):
        position.apply_fill(side, price_raw, quantity_raw, fee_raw, ts)
    return position


def position_fields(position: Position) -> dict[str, object]:
    return {name: getattr(position, name) for name in Position.__slots__}


def raw_connection(path: Path) -> sqlite3.Connection:
    """A plain connection, to look at (or damage) the file the way an outsider would."""
    return sqlite3.connect(path, isolation_level=None)
