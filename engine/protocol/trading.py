"""Trading payloads: orders, fills, positions, balances, risk state (schema ``v`` as elsewhere).

Prices, quantities and money are exact decimal strings; timestamps integer ns UTC. Money is in
the instrument's quote currency (``currency``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.protocol.payloads import Payload

OrderStatusText = Literal[
    "submitted",
    "accepted",
    "partially_filled",
    "pending_cancel",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "denied",
]
OPEN_STATUSES = ("submitted", "accepted", "partially_filled", "pending_cancel")


class OrderRow(msgspec.Struct, kw_only=True):
    client_order_id: str
    instrument_id: str
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    tif: Literal["gtc", "ioc", "fok"]
    price: str | None
    """Limit price; null for market orders."""
    quantity: str
    filled: str
    avg_price: str | None
    """Average fill price, null before the first fill."""
    fee: str
    currency: str
    status: OrderStatusText
    strategy_id: str = "manual"
    venue_order_id: str | None = None
    reason: str | None = None
    """Why it was denied, rejected, cancelled or expired."""
    replaces: str | None = None
    ts_created: int
    ts_last: int


class FillRow(msgspec.Struct, kw_only=True):
    ts: int
    client_order_id: str
    trade_id: str
    instrument_id: str
    side: Literal["buy", "sell"]
    price: str
    quantity: str
    fee: str
    currency: str
    liquidity: Literal["maker", "taker"]


class Orders(Payload, kw_only=True):
    """Retained at ``oms/orders``: open orders and the most recent closed ones, newest first."""

    ts: int
    orders: list[OrderRow]


class OrderUpdate(Payload, kw_only=True):
    """Ordered, not retained, at ``oms/events``: one per order event, in journal order."""

    ts: int
    seq: int
    """Journal sequence number of the event: strictly increasing across engine restarts on the
    same journal, so a client may de-duplicate by it (a restart never reuses one)."""
    event: str
    """``submitted``, ``denied``, ``accepted``, ``rejected``, ``filled``, ``pending_cancel``,
    ``canceled``, ``cancel_rejected`` or ``expired``."""
    order: OrderRow
    fill: FillRow | None = None
    reason: str | None = None


class PositionRow(msgspec.Struct, kw_only=True):
    instrument_id: str
    quantity: str
    """Signed: negative is short."""
    avg_price: str | None
    last: str | None
    unrealized: str
    realized: str
    """Realized PnL before fees."""
    fees: str
    currency: str
    stop_loss: str | None = None
    """Protective stop price the engine will act on (null if none)."""
    take_profit: str | None = None
    trailing_stop: str | None = None
    """Current trailing stop level (moves with the best price since entry)."""
    ts_last: int


class Positions(Payload, kw_only=True):
    """Retained at ``oms/positions``: every instrument with a position or realized PnL today."""

    ts: int
    positions: list[PositionRow]


class BalanceRow(msgspec.Struct, kw_only=True):
    currency: str
    free: str
    locked: str
    """Held by open orders."""


class Account(Payload, kw_only=True):
    """Retained at ``oms/account``."""

    ts: int
    mode: Literal["paper", "live"]
    balances: list[BalanceRow]


class PausedInstrument(msgspec.Struct, kw_only=True):
    instrument_id: str
    reason: str


class RiskState(Payload, kw_only=True):
    """Retained at ``risk/state``: what the risk engine allows right now."""

    ts: int
    kill_switch: bool
    """True after a kill: new entries are blocked until ``kill.reset``."""
    kill_reason: str | None = None
    armed_venues: list[str] = msgspec.field(default_factory=list)
    """Live venues armed for real orders (paper needs no arming)."""
    paused: list[PausedInstrument] = msgspec.field(default_factory=list)
    """Instruments whose entries are paused (stale feed)."""
    daily_pnl: str
    daily_loss_limit: str
    drawdown: str
    max_drawdown: str
    open_orders: int
    max_open_orders: int
    gross_exposure: str
    max_gross_exposure: str
    currency: str
    max_order_notional: str | None = None
    """Largest value of one entry order in ``currency``; null: not published or not set."""
    max_position_notional: str | None = None
    """Largest position value per instrument in ``currency`` (held plus open orders on the
    order's side plus the order); null: not published or not set."""
    price_band_pct: str | None = None
    """Limit prices further than this percentage from the last trade (or the mid) are denied."""
    allow_short: bool | None = None
    """Whether sells may exceed the free holdings; null: not published."""


class Reconciliation(Payload, kw_only=True):
    """Retained at ``oms/reconcile``: differences found between the journal and the venue."""

    ts: int
    venue: str
    differences: list[str]
    """One human-readable line per difference; empty when they agree."""
