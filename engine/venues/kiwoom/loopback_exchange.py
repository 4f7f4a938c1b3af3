"""The loopback server's order desk: one account, its orders, matching and refusals.

Orders are checked as the venue checks them (quantity, the tick grid of the stock's market: ETFs
and ETNs have their own, the day's ±30 % band, buying
power, sellable shares) and refused with ``return_code`` 20 and a ``[2000](code:text)`` message.
An accepted order first takes the visible opposite levels it crosses (partial fills happen when it
wants more than they hold); the rest rests (limit) or is cancelled (market, IOC; FOK all or none),
and a resting order fills as the simulator's trades print through its price.
"""

from __future__ import annotations

import time as wall_time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.domain.market_data import ASK, BID
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.loopback_market import StockState
from engine.venues.kiwoom.rules import sell_tax_for, ticks_for

COMMISSION_PER_100K = 15
"""0.015 % commission, truncated to the won (the broker's rounding is not published)."""

_MARKET = {wire.TRDE_MARKET, wire.TRDE_MARKET_IOC, wire.TRDE_MARKET_FOK}
_IOC = {wire.TRDE_LIMIT_IOC, wire.TRDE_MARKET_IOC, wire.TRDE_MARKET}
_FOK = {wire.TRDE_LIMIT_FOK, wire.TRDE_MARKET_FOK}
_KNOWN = {wire.TRDE_LIMIT} | _MARKET | _IOC | _FOK


class DeskRefusal(Exception):
    """An order refused by the desk: ``[2000](code:text)``."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(wire.desk_message(code, text))
        self.code = code


@dataclass(slots=True)
class Execution:
    price: int
    quantity: int
    remaining_after: int
    commission: int
    tax: int
    time: str


@dataclass(slots=True)
class DeskOrder:
    number: str
    code: str
    buy: bool
    quantity: int
    price: int
    trade_type: str
    time: str
    remaining: int
    open: bool = True
    executions: list[Execution] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return self.quantity - self.remaining


class Desk:
    """Cash, holdings and orders of the loopback's one account."""

    def __init__(
        self,
        cash: int,
        holdings: dict[str, int],
        *,
        segments: dict[str, str] | None = None,
        now_ns: Callable[[], int] = wall_time.time_ns,
    ) -> None:
        self.cash = cash
        self.holdings = dict(holdings)
        self.segments = dict(segments or {})
        """Market of each code as ``ka10100`` reports it (absent: KOSPI): its tick grid and tax."""
        self._now_ns = now_ns
        self.average_price: dict[str, int] = {}
        self.orders: dict[str, DeskOrder] = {}
        self._next_number = 1

    def segment(self, code: str) -> str:
        return self.segments.get(code, "KOSPI")

    # --- balances ------------------------------------------------------------------------------

    def reserved_cash(self) -> int:
        return sum(
            _with_commission(order.remaining * order.price)
            for order in self.orders.values()
            if order.open and order.buy
        )

    def orderable_cash(self) -> int:
        return self.cash - self.reserved_cash()

    def sellable(self, code: str) -> int:
        pending = sum(
            order.remaining
            for order in self.orders.values()
            if order.open and not order.buy and order.code == code
        )
        return self.holdings.get(code, 0) - pending

    # --- orders --------------------------------------------------------------------------------

    def place(self, stock: StockState, buy: bool, body: dict[str, Any], time: str) -> DeskOrder:
        trade_type = str(body.get("trde_tp", ""))
        if trade_type not in _KNOWN:
            raise DeskRefusal(wire.DESK_BAD_QUANTITY, f"매매구분({trade_type})을 확인하세요")
        quantity = _int(body.get("ord_qty"))
        if quantity <= 0:
            raise DeskRefusal(wire.DESK_BAD_QUANTITY, "주문수량을 확인하세요")
        limits = stock.limits
        if trade_type in _MARKET:
            price = limits.upper if buy else limits.lower
        else:
            price = _int(body.get("ord_uv"))
            ticks = ticks_for(self.segment(stock.code))
            if not ticks.is_on_grid(price):
                raise DeskRefusal(
                    wire.DESK_TICK_SIZE, f"호가단위({ticks.tick_at(price)}원)가 맞지 않습니다"
                )
            if not limits.contains(price):
                raise DeskRefusal(
                    wire.DESK_PRICE_LIMIT,
                    f"주문가격이 상하한가({limits.lower}~{limits.upper})를 벗어났습니다",
                )
        if buy:
            affordable = (
                self.orderable_cash() * 100_000 // (price * (100_000 + COMMISSION_PER_100K))
            )
            if quantity > affordable:
                raise DeskRefusal(
                    wire.DESK_INSUFFICIENT_CASH,
                    f"매수가능금액이 부족합니다. {max(affordable, 0)}주 매수가능",
                )
        elif quantity > self.sellable(stock.code):
            raise DeskRefusal(wire.DESK_INSUFFICIENT_SHARES, "매도가능수량이 부족합니다")
        order = DeskOrder(
            self._number(), stock.code, buy, quantity, price, trade_type, time, quantity
        )
        self.orders[order.number] = order
        self._take_liquidity(order, stock, time)
        if order.open and trade_type in _IOC | _FOK:
            order.open = False
        return order

    def cancel(self, original: str, code: str) -> tuple[str, int]:
        order = self.orders.get(original)
        if order is None or not order.open or order.code != code:
            raise DeskRefusal(
                wire.DESK_NO_ORDER, "원주문번호가 존재하지 않거나 취소할 수량이 없습니다"
            )
        order.open = False
        return self._number(), order.remaining

    def on_trade(self, stock: StockState, price: int, signed_volume: int, time: str) -> None:
        """A market trade printed: resting orders it reaches fill against its volume."""
        volume = abs(signed_volume)
        seller_aggressed = signed_volume < 0
        for order in list(self.orders.values()):
            if volume <= 0:
                break
            if not order.open or order.code != stock.code:
                continue
            reached = price <= order.price if order.buy else price >= order.price
            if reached and order.buy == seller_aggressed:
                volume -= self._fill(order, order.price, min(volume, order.remaining), time)

    # --- internals -----------------------------------------------------------------------------

    def _take_liquidity(self, order: DeskOrder, stock: StockState, time: str) -> None:
        levels = stock.top(ASK if order.buy else BID)
        crossing = [
            (price, size)
            for price, size in levels
            if (price <= order.price if order.buy else price >= order.price)
        ]
        if order.trade_type in _FOK and sum(size for _, size in crossing) < order.quantity:
            return
        for price, size in crossing:
            if order.remaining == 0:
                break
            self._fill(order, price, min(size, order.remaining), time)

    def _fill(self, order: DeskOrder, price: int, quantity: int, time: str) -> int:
        notional = price * quantity
        commission = notional * COMMISSION_PER_100K // 100_000
        sell_tax = None if order.buy else sell_tax_for(self.segment(order.code))
        tax = 0 if sell_tax is None else sell_tax.tax_raw(notional, self._now_ns(), 0)
        order.remaining -= quantity
        order.executions.append(Execution(price, quantity, order.remaining, commission, tax, time))
        held = self.holdings.get(order.code, 0)
        if order.buy:
            self.cash -= notional + commission
            cost = self.average_price.get(order.code, 0) * held + notional
            self.holdings[order.code] = held + quantity
            self.average_price[order.code] = cost // (held + quantity)
        else:
            self.cash += notional - commission - tax
            self.holdings[order.code] = held - quantity
        if order.remaining == 0:
            order.open = False
        return quantity

    def _number(self) -> str:
        number = f"{self._next_number:07d}"
        self._next_number += 1
        return number


def _with_commission(notional: int) -> int:
    return notional + notional * COMMISSION_PER_100K // 100_000 + 1


def _int(text: object) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return -1
