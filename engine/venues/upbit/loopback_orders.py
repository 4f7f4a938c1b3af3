"""The Upbit loopback's orders and how it writes them: the order record, Upbit's number text,
its order object and its error replies (protocols.md §A.6, §A.7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

from engine.venues.upbit.loopback_frames import utc
from engine.venues.upbit.loopback_market import LoopbackMarket

KST_ZONE = timezone(timedelta(hours=9))


class ExchangeError(Exception):
    """An Upbit error reply: HTTP status and the ``error`` object."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message


def text(value: Decimal) -> str:
    """Upbit's number strings: plain decimal text, no exponent, no trailing zeros."""
    normalized = value.normalize()
    return format(normalized, "f") if normalized != 0 else "0"


@dataclass
class LoopOrder:
    uuid: str
    identifier: str | None
    position: int
    market: str
    side: str
    ord_type: str
    price_raw: int
    """Limit price; for ``price`` orders the KRW total (raw at price precision)."""
    volume_raw: int
    time_in_force: str | None
    created_ns: int
    executed_raw: int = 0
    state: str = "wait"
    locked: Decimal = Decimal(0)
    reserved_fee: Decimal = Decimal(0)
    paid_fee: Decimal = Decimal(0)
    funds: Decimal = Decimal(0)
    trades: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remaining_raw(self) -> int:
        return self.volume_raw - self.executed_raw


def kst_text(ts_ns: int) -> str:
    """A time as Upbit writes it in order objects: ISO 8601 in KST, to the second."""
    return utc(ts_ns).astimezone(KST_ZONE).isoformat(timespec="seconds")


def order_object(
    order: LoopOrder, market: LoopbackMarket, created_at: str, with_trades: bool
) -> dict[str, Any]:
    """Upbit's order object for ``order`` (``created_at`` in KST, as the venue's clock has it)."""
    position = order.position
    price = market.price(position, order.price_raw) if order.ord_type != "market" else None
    volume = market.size(position, order.volume_raw) if order.ord_type != "price" else None
    reply: dict[str, Any] = {
        "uuid": order.uuid,
        "side": order.side,
        "ord_type": order.ord_type,
        "price": None if price is None else text(price),
        "state": order.state,
        "market": order.market,
        "created_at": created_at,
        "volume": None if volume is None else text(volume),
        "remaining_volume": None
        if volume is None
        else text(market.size(position, order.remaining_raw)),
        "executed_volume": text(market.size(position, order.executed_raw)),
        "reserved_fee": text(order.reserved_fee),
        "remaining_fee": text(max(Decimal(0), order.reserved_fee - order.paid_fee)),
        "paid_fee": text(order.paid_fee),
        "locked": text(order.locked),
        "prevented_volume": "0",
        "prevented_locked": "0",
        "trades_count": len(order.trades),
    }
    if order.time_in_force:
        reply["time_in_force"] = order.time_in_force
    if order.identifier is not None:
        reply["identifier"] = order.identifier
    if with_trades:
        reply["trades"] = list(order.trades)
    return reply
