"""What every venue adapter provides, and the vocabulary the engine uses to talk to it.

An adapter lives in ``engine/venues/<venue>/`` with its quirks (raw JSON never leaves that folder)
and its loopback protocol server (``loopback.py``, for tests and ``stom demo``). It provides:

- :class:`VenueFeed`: instrument rules loaded from the venue, and market data. ``run`` connects,
  subscribes, and keeps going forever: reconnect with backoff, resubscribe, heartbeat and idle
  handling, sequence-gap detection and book resync. It appends *normalized* events to the
  :class:`FeedSink` (a :class:`~engine.domain.market_data.MarketBatch` in raw units; a book resync
  is a BOOK_CLEAR followed by the snapshot's BOOK_LEVEL events) and keeps :class:`FeedHealth`.
- :class:`OrderClient`: signed execution over the venue's REST (and user stream where there is
  one). It speaks domain values (raw units) and raises :class:`VenueRejected` with the venue's own
  code and message, or :class:`VenueUnavailable` for what is worth retrying. The engine's live
  exchange turns its answers into order events; adapters never touch the OMS.

Nothing here holds a secret: credentials arrive as :class:`~engine.config.secrets.Secret` values and
are only revealed at the moment of signing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from engine.domain.instrument import Instrument
from engine.domain.market_data import MarketBatch
from engine.domain.orders import Liquidity, Order

# FeedHealth and FeedState live with their helpers; adapters import them from here.
from engine.venues.feed_health import FeedHealth, FeedState

__all__ = [
    "Balance",
    "FeedHealth",
    "FeedSink",
    "FeedState",
    "OrderClient",
    "VenueFeed",
    "VenueFill",
    "VenueOrderState",
    "VenueOrderStatus",
    "VenueRejected",
    "VenueUnavailable",
]


class FeedSink:
    """Where a feed puts normalized events: one batch the engine's market loop takes in turn.

    ``index_of`` maps an instrument id to its engine index (``MarketState.add`` order). After
    appending, a feed calls :meth:`wake` so the market loop runs without waiting for its timer.
    """

    __slots__ = ("_wake", "batch", "index_of")

    def __init__(self, index_of: Callable[[str], int], wake: Callable[[], None]) -> None:
        self.batch = MarketBatch()
        self.index_of = index_of
        self._wake = wake

    def wake(self) -> None:
        self._wake()

    def take(self) -> MarketBatch:
        """Hand the pending events to the caller and start a fresh batch."""
        batch, self.batch = self.batch, MarketBatch()
        return batch


class VenueFeed(Protocol):
    """Market data and instrument rules of one venue."""

    venue: str
    health: FeedHealth
    book_depth: int
    """Book levels per side the venue sends (what is published unless configured less)."""

    async def load_instruments(self, symbols: list[str]) -> list[Instrument]:
        """Rules for ``symbols`` from the venue (tick table, lot, minimum notional, fees)."""
        ...

    async def run(self, symbols: list[str], sink: FeedSink) -> None:
        """Stream ``symbols`` into ``sink`` until cancelled; never returns on a network error."""
        ...

    def resync_book(self, instrument_id: str) -> None:
        """Distrust ``instrument_id``'s book (it arrived crossed): put it in
        ``health.resyncing``, stop its book updates, and get a fresh snapshot of it."""
        ...


class VenueRejected(Exception):
    """The venue refused a request; ``code`` and ``message`` are the venue's own words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class VenueUnavailable(Exception):
    """Network error, 5xx, or a rate limit: worth retrying after ``retry_after_s``.

    ``unsent`` is True only when the request certainly had no effect on the venue: it was never
    sent (connection refused, a client-side rate-limit pause, no token) or the venue refused it
    unprocessed (a rate limit). Otherwise (a timeout, a reset, a 5xx) it may have been carried out
    and its answer lost: a place must then be looked up, not sent again, on a venue that does not
    refuse a duplicate client order id (:attr:`OrderClient.rejects_duplicate_ids`).
    """

    def __init__(self, message: str, retry_after_s: float = 1.0, *, unsent: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.unsent = unsent


def retry_after_of(exc: BaseException) -> float | None:
    """The venue's Retry-After for :func:`engine.backoff.retry` (a floor on the next wait)."""
    return exc.retry_after_s if isinstance(exc, VenueUnavailable) else None


class VenueOrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One execution of an order, as the venue reports it (raw units; fee at notional scale)."""

    trade_id: str
    client_order_id: str
    price_raw: int
    quantity_raw: int
    fee_raw: int
    liquidity: Liquidity
    ts: int
    fee_base_raw: int = 0
    """The fee as withheld in the base asset (raw, size scale); see ``OrderFilled``."""
    fee_asset: str = ""
    """The asset the venue charged the fee in (empty: the quote currency)."""
    fee_charged: str = ""
    """The fee in ``fee_asset``, the venue's own figure (decimal text)."""


@dataclass(frozen=True, slots=True)
class VenueOrderState:
    """An order as the venue sees it now; ``fills`` are every execution known so far."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    status: VenueOrderStatus
    filled_raw: int
    fills: tuple[VenueFill, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    free: Decimal
    locked: Decimal


class OrderClient(Protocol):
    """Signed execution on one venue. Every call may raise VenueRejected or VenueUnavailable."""

    venue: str
    rejects_duplicate_ids: bool
    """True when the venue refuses a second order with the same client order id (Upbit's
    ``identifier``, Binance's ``newClientOrderId``): a place whose answer was lost may then be sent
    again safely. False (Kiwoom: no client order id) means a resend could place the order twice,
    so the live exchange only looks such an order up. Read with a default of False."""

    async def place(self, order: Order, instrument: Instrument) -> str:
        """Send ``order`` (its client order id goes to the venue); returns the venue order id."""
        ...

    async def cancel(self, order: Order, venue_order_id: str) -> None: ...

    async def query(self, order: Order, venue_order_id: str) -> VenueOrderState: ...

    async def open_orders(self) -> list[VenueOrderState]: ...

    async def balances(self) -> list[Balance]: ...

    async def close(self) -> None: ...
