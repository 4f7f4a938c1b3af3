"""Positions: quantity, cost, average price, realized and unrealized PnL, fees.

All amounts are raw integers: quantity at the size scale, money at the notional scale
(``price_precision + size_precision``, see :mod:`engine.domain.fees`).

``cost_raw`` is the signed cost of the open quantity (``sum(price * signed quantity)`` of what is
still open), so the average price is ``cost_raw / quantity_raw`` exactly and the unrealized PnL at
a mark price is ``mark * quantity - cost``. Reducing a position removes cost in proportion to the
quantity closed (floored); the rounding unit stays in the remaining cost and comes out in full
when the position closes, so for any sequence of fills

    realized + unrealized(mark) - fees == cash flow + mark * quantity

holds to the unit (the cash flow of a buy is ``-(price * qty) - fee``; of a sell,
``price * qty - fee``). Reversals (long to short in one fill) close, then open at the fill price.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from engine.domain.fixed_point import from_raw
from engine.domain.orders import OrderSide


class Position:
    """One instrument's position for one account (or strategy)."""

    __slots__ = (
        "buy_quantity_raw",
        "cost_raw",
        "fees_raw",
        "instrument_id",
        "quantity_raw",
        "realized_raw",
        "sell_quantity_raw",
        "trades",
        "ts_last",
    )

    def __init__(self, instrument_id: str) -> None:
        self.instrument_id = instrument_id
        self.quantity_raw = 0
        """Signed: positive long, negative short."""
        self.cost_raw = 0
        """Signed cost of the open quantity (same sign as ``quantity_raw``)."""
        self.realized_raw = 0
        """Realized PnL before fees."""
        self.fees_raw = 0
        self.buy_quantity_raw = 0
        self.sell_quantity_raw = 0
        self.trades = 0
        self.ts_last = 0

    @property
    def is_flat(self) -> bool:
        return self.quantity_raw == 0

    def apply_fill(
        self,
        side: OrderSide,
        price_raw: int,
        quantity_raw: int,
        fee_raw: int,
        ts: int = 0,
        *,
        fee_base_raw: int = 0,
    ) -> int:
        """Apply one fill; returns the PnL it realized (before fees).

        ``fee_base_raw`` is a fee the venue took in the base asset (``OrderFilled.fee_base_raw``):
        the position moves by what the account really got or gave, a buy of ``quantity_raw -
        fee_base_raw`` or a sell of ``quantity_raw + fee_base_raw`` at the fill price, with
        ``fee_raw`` (that fee valued at the fill price) as the fee, so the identity in the module
        docstring still holds to the unit."""
        if quantity_raw <= 0 or price_raw <= 0 or fee_raw < 0 or fee_base_raw < 0:
            raise ValueError(
                f"fill needs a positive price and quantity and a non-negative fee, got "
                f"price {price_raw}, quantity {quantity_raw}, fee {fee_raw} "
                f"(base-asset fee {fee_base_raw})"
            )
        if fee_base_raw:
            quantity_raw += -fee_base_raw if side is OrderSide.BUY else fee_base_raw
            if quantity_raw <= 0:  # the whole fill went in fees: only the fee moves
                self.fees_raw += fee_raw
                self.trades += 1
                self.ts_last = ts
                return 0
        self.fees_raw += fee_raw
        self.trades += 1
        self.ts_last = ts
        signed = quantity_raw if side is OrderSide.BUY else -quantity_raw
        if side is OrderSide.BUY:
            self.buy_quantity_raw += quantity_raw
        else:
            self.sell_quantity_raw += quantity_raw
        held = self.quantity_raw
        if held == 0 or (held > 0) == (signed > 0):
            self.quantity_raw += signed
            self.cost_raw += signed * price_raw
            return 0
        closing = min(quantity_raw, abs(held))
        removed = abs(self.cost_raw) * closing // abs(held)
        if closing == abs(held):
            removed = abs(self.cost_raw)
        if held > 0:
            realized = price_raw * closing - removed
            self.cost_raw -= removed
            self.quantity_raw -= closing
        else:
            realized = removed - price_raw * closing
            self.cost_raw += removed
            self.quantity_raw += closing
        self.realized_raw += realized
        opening = quantity_raw - closing
        if opening:
            signed_open = opening if side is OrderSide.BUY else -opening
            self.quantity_raw = signed_open
            self.cost_raw = signed_open * price_raw
        return realized

    def unrealized_raw(self, mark_price_raw: int) -> int:
        """PnL of the open quantity at ``mark_price_raw`` (0 when flat or unmarked)."""
        if not self.quantity_raw or mark_price_raw <= 0:
            return 0
        return mark_price_raw * self.quantity_raw - self.cost_raw

    def average_price(self, price_precision: int) -> Decimal | None:
        """Average entry price of the open quantity, rounded half-even to 4 extra places."""
        if not self.quantity_raw:
            return None
        exact = Decimal(self.cost_raw) / Decimal(self.quantity_raw)
        return from_raw(1, price_precision) * exact.quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_EVEN
        )
