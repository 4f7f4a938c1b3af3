"""The Binance loopback's orders: the order and fill records, Binance's order object and error
replies, and request amounts read as Binance reads them (protocols.md §B.2, §B.4)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.venues.binance.loopback_market import e8_text


class BinanceError(Exception):
    """A Binance error reply: ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


@dataclass(slots=True)
class Fill:
    """One execution of a loopback order (amounts e8)."""

    trade_id: int
    price: int
    qty: int
    commission: int
    commission_asset: str
    time_ms: int
    is_maker: bool


@dataclass(slots=True)
class LoopbackOrder:
    """An order on the loopback account (amounts e8); :meth:`as_json` is Binance's order object."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: int
    orig_qty: int
    time_ms: int
    executed: int = 0
    quote: int = 0
    status: str = "NEW"
    update_ms: int = 0
    fills: list[Fill] = dataclasses.field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.orig_qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED", "PENDING_CANCEL")

    def as_json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": e8_text(self.price),
            "origQty": e8_text(self.orig_qty),
            "executedQty": e8_text(self.executed),
            "cummulativeQuoteQty": e8_text(self.quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": True,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


def e8_param(params: dict[str, str], name: str) -> int:
    """A decimal request parameter as e8, refused as Binance refuses it (-1100, -1111)."""
    text = params[name]
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    scaled = value.scaleb(8)
    if scaled != scaled.to_integral_value():
        raise BinanceError(-1111, f"Parameter '{name}' has too much precision.")
    return int(scaled)
