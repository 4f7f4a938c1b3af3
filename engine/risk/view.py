"""What the risk engine reads from the OMS: instruments, markets, positions, orders, balances."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from engine.domain.instrument import Instrument
from engine.domain.orders import Order
from engine.domain.positions import Position
from engine.market_state import InstrumentState


class RiskView(Protocol):
    """The OMS's current state, read-only. Risk keeps no copy, so it never disagrees with it."""

    def instrument(self, instrument_id: str) -> Instrument | None:
        """The instrument, or None when the engine does not know it."""
        ...

    def market(self, instrument_id: str) -> InstrumentState | None:
        """The instrument's book and last trade, or None when it has no market state."""
        ...

    def position(self, instrument_id: str) -> Position | None:
        """The position, or None when the instrument has never been traded."""
        ...

    def positions(self) -> Iterable[Position]:
        """Every position (flat ones may be included): gross exposure sums over them."""
        ...

    def open_orders(self) -> Iterable[Order]:
        """Orders that are still open, all instruments."""
        ...

    def free_balance(self, currency: str) -> Decimal:
        """Free cash (a quote currency) or free holdings (a base asset), not locked by orders."""
        ...
