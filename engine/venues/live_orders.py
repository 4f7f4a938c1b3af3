"""What a live exchange tracks of each order it has on the venue.

A module of its own so that the exchange's helpers (start-up reconciliation, the private stream)
can name it without importing the exchange that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain.orders import Order


@dataclass
class Tracked:
    """What the live exchange knows of one order that is open (or on its way) on the venue."""

    order: Order
    """The OMS's order (read here, never changed: only events change it)."""
    venue_order_id: str | None = None
    filled_raw: int = 0
    """Sum of the fills reported to the OMS."""
    trade_ids: set[str] = field(default_factory=set)
    placing: bool = False
    """The place request has not been answered yet."""
    cancel_wanted: bool = False
    """A cancel arrived while the place was in flight: sent once the venue has answered."""
    canceling: bool = False
    restored: bool = False
    """Rebuilt from the journal at start: reconciled with the venue before anything else."""
