"""Long-only position bookkeeping shared by the templates: one order at a time, entry price and
time, and the take-profit / stop-loss / time exits.

A strategy calls :meth:`Bracket.sent` after each order, :meth:`on_order` and :meth:`on_fill`
from its callbacks, and asks :meth:`exit_reason` on each price. Nothing here places orders: the
strategy stays in charge of what to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.domain.orders import Order, OrderSide
from engine.strategy.api import StrategyContext, StrategyFill

BPS = 10_000


class Bracket:
    """Per-instrument entry and exits; prices raw, times ns."""

    __slots__ = (
        "entry_price",
        "entry_ts",
        "max_hold_ns",
        "stop_loss_bps",
        "take_profit_bps",
        "working",
    )

    def __init__(self, take_profit_bps: float, stop_loss_bps: float, max_hold_s: float) -> None:
        self.take_profit_bps = take_profit_bps
        self.stop_loss_bps = stop_loss_bps
        self.max_hold_ns = int(max_hold_s * 1_000_000_000)
        self.entry_price: dict[int, int] = {}
        self.entry_ts: dict[int, int] = {}
        self.working: dict[int, str] = {}
        """Instrument index -> the client order id still working there."""

    def busy(self, i: int) -> bool:
        """True while an order on ``i`` is working (send nothing else)."""
        return i in self.working

    def sent(self, ctx: StrategyContext, i: int, client_order_id: str | None) -> None:
        """Track an order just sent (a denial may already have closed it)."""
        if client_order_id is None:
            return
        order = ctx.order(client_order_id)
        if order is not None and order.is_open:
            self.working[i] = client_order_id

    def on_order(self, ctx: StrategyContext, order: Order) -> None:
        if order.status.is_terminal:
            i = ctx.index_of(order.instrument_id)
            if self.working.get(i) == order.client_order_id:
                del self.working[i]

    def on_fill(self, ctx: StrategyContext, fill: StrategyFill) -> None:
        """Record the entry on the first buy fill; forget it once flat."""
        i = fill.i
        if fill.side is OrderSide.BUY:
            # A buy from flat starts a new entry, even if a saved one survived (a crash between
            # the exit's fill and the next save leaves the old entry in the saved state).
            if i not in self.entry_price or ctx.position(i) <= fill.quantity:
                self.entry_price[i] = fill.price
                self.entry_ts[i] = fill.ts
        elif ctx.position(i) <= 0:
            self.entry_price.pop(i, None)
            self.entry_ts.pop(i, None)

    def exit_reason(self, i: int, price: int, ts: int) -> str | None:
        """ "take-profit", "stop-loss" or "time" when the long position on ``i`` should close.

        Asked only while long. A position with no entry on record (its fill came after the last
        save, then the engine crashed) takes this price and time as its entry, so its exits
        work from here instead of never."""
        entry = self.entry_price.get(i)
        if entry is None:
            self.entry_price[i] = price
            self.entry_ts[i] = ts
            return None
        if price * BPS >= entry * (BPS + self.take_profit_bps):
            return "take-profit"
        if price * BPS <= entry * (BPS - self.stop_loss_bps):
            return "stop-loss"
        if self.max_hold_ns and ts - self.entry_ts[i] >= self.max_hold_ns:
            return "time"
        return None

    def save(self, ctx: StrategyContext) -> dict[str, Any]:
        """Entries by instrument id (JSON-safe), for ``save_state``."""
        return {
            "entries": {
                str(ctx.instrument(i).id): [price, self.entry_ts[i]]
                for i, price in self.entry_price.items()
            }
        }

    def load(self, ctx: StrategyContext, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`save` returned (instruments no longer traded are skipped)."""
        for instrument_id, (price, ts) in dict(state.get("entries") or {}).items():
            try:
                i = ctx.index_of(instrument_id)
            except ValueError:
                continue
            self.entry_price[i] = int(price)
            self.entry_ts[i] = int(ts)
