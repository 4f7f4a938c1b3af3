"""The loopback's Exchange API: accounts, validation, matching (protocols.md §A.3, §A.6, §A.7).

Validation follows Upbit's answers: wrong field combinations give ``create_bid_error`` /
``create_ask_error``, a price off the tick grid ``invalid_price_bid|ask``, an order under 5,000 KRW
``under_min_total_bid|ask``, too little balance ``insufficient_funds_bid|ask``, an unknown order
``order_not_found`` (404). A limit bid locks ``price * volume`` plus the fee; an ask locks the
volume. Orders trade against the simulator's book as takers on arrival (IOC/FOK/market remainders
are cancelled: state ``cancel``, with fills if any), and resting orders fill as makers when the
simulator's prints trade through their price, so partial fills happen naturally.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.domain.fees import FeeRate
from engine.domain.fixed_point import PrecisionError, from_raw, to_raw
from engine.domain.market_data import ASK, BID
from engine.venues.upbit.loopback_market import LoopbackMarket, TradeRecord
from engine.venues.upbit.loopback_orders import (
    ExchangeError,
    LoopOrder,
    kst_text,
    order_object,
    text,
)

FEE = Decimal("0.0005")
MIN_TOTAL = Decimal(5000)


class LoopbackExchange:
    """Balances and orders of the one loopback account."""

    def __init__(self, market: LoopbackMarket, balances: dict[str, Decimal]) -> None:
        self.market = market
        self.free: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = dict.fromkeys(balances, Decimal(0))
        self.orders: dict[str, LoopOrder] = {}
        self._by_identifier: dict[str, LoopOrder] = {}
        self.skew_ns = 0
        self.fee_rate = FEE
        """The account's fee rate, maker and taker (0.05 % on KRW markets; tests change it, as a
        fee event or a BTC market would: the engine must book what ``paid_fee`` says)."""
        self.observers: list[Callable[[LoopOrder, dict[str, Any] | None, int | None], None]] = []
        """Told of every change of an order: placed and ended (trade None), each fill (its trade
        and the match time): the private WebSocket serves them as ``myOrder``/``myAsset``."""

    # --- requests -----------------------------------------------------------------------------

    def accounts(self) -> list[dict[str, str | bool]]:
        return [
            {
                "currency": currency,
                "balance": text(self.free[currency]),
                "locked": text(self.locked.get(currency, Decimal(0))),
                "avg_buy_price": "0",
                "avg_buy_price_modified": False,
                "unit_currency": "KRW",
            }
            for currency in sorted(self.free)
        ]

    def find(self, params: dict[str, str]) -> LoopOrder:
        order = None
        if params.get("uuid"):
            order = self.orders.get(params["uuid"])
        elif params.get("identifier"):
            order = self._by_identifier.get(params["identifier"])
        else:
            raise ExchangeError(400, "validation_error", "uuid 또는 identifier를 입력해주세요.")
        if order is None:
            raise ExchangeError(404, "order_not_found", "주문을 찾지 못했습니다.")
        return order

    def cancel(self, params: dict[str, str], now_ns: int) -> dict[str, Any]:
        order = self.find(params)
        if order.state != "wait":
            raise ExchangeError(400, "order_not_found", "주문을 찾지 못했습니다.")
        reply = self.order_object(order, with_trades=False)  # Upbit answers the pre-cancel state
        self._finish(order, "cancel")
        return reply

    def open_orders(self, market: str | None) -> list[dict[str, Any]]:
        return [
            self.order_object(order, with_trades=False)
            for order in self.orders.values()
            if order.state == "wait" and (market is None or order.market == market)
        ]

    def place(self, body: dict[str, Any], now_ns: int) -> dict[str, Any]:
        order = self._validated(body, now_ns)
        self.orders[order.uuid] = order
        if order.identifier:
            self._by_identifier[order.identifier] = order
        self._lock(order)
        self._notify(order, None, None)
        reply = self.order_object(order, with_trades=False)  # placement always answers "wait"
        self._take(order, now_ns)
        if order.ord_type == "price":
            # A KRW-total buy ends "cancel" when a remainder too small for one more unit is left.
            self._finish(order, "cancel" if order.locked > 0 else "done")
        elif order.remaining_raw == 0:
            self._finish(order, "done")
        elif order.ord_type != "limit" or order.time_in_force:
            self._finish(order, "cancel")
        self._publish_resting(order.position)
        return reply

    # --- validation ---------------------------------------------------------------------------

    def _validated(self, body: dict[str, Any], now_ns: int) -> LoopOrder:
        side = body.get("side")
        if side not in ("bid", "ask"):
            raise ExchangeError(400, "validation_error", "side 값이 올바르지 않습니다.")
        create_error = ExchangeError(
            400, f"create_{side}_error", "주문 요청 정보가 올바르지 않습니다."
        )
        market_code = str(body.get("market", ""))
        position = self.market.position_of.get(market_code)
        if position is None:
            raise ExchangeError(400, "validation_error", f"market {market_code} 이 없습니다.")
        instrument = self.market.instruments[position]
        ord_type = body.get("ord_type", "limit")
        price, volume = body.get("price"), body.get("volume")
        tif = body.get("time_in_force")
        shape_ok = {
            "limit": price is not None and volume is not None,
            "price": side == "bid" and price is not None and volume is None,
            "market": side == "ask" and volume is not None and price is None,
        }.get(str(ord_type), False)
        if not shape_ok or tif not in (None, "ioc", "fok"):
            raise create_error
        identifier = body.get("identifier")
        if identifier is not None and identifier in self._by_identifier:
            raise ExchangeError(400, "validation_error", "identifier가 중복되었습니다.")
        try:
            price_raw = to_raw(str(price), instrument.price_precision) if price else 0
        except PrecisionError:
            raise ExchangeError(
                400, f"invalid_price_{side}", "주문가격 단위를 잘못 입력하셨습니다."
            ) from None
        try:
            volume_raw = to_raw(str(volume), instrument.size_precision) if volume else 0
        except PrecisionError:
            raise ExchangeError(
                400, "invalid_volume", "주문수량 단위가 올바르지 않습니다."
            ) from None
        if (price is not None and price_raw <= 0) or (volume is not None and volume_raw <= 0):
            raise create_error
        if ord_type == "limit" and not instrument.tick_table.is_on_grid(price_raw):
            raise ExchangeError(
                400,
                f"invalid_price_{side}",
                "주문가격 단위를 잘못 입력하셨습니다. 확인 후 시도해주세요.",
            )
        order = LoopOrder(
            uuid=str(uuid.uuid4()),
            identifier=None if identifier is None else str(identifier),
            position=position,
            market=market_code,
            side=side,
            ord_type=str(ord_type),
            price_raw=price_raw,
            volume_raw=volume_raw,
            time_in_force=None if tif is None else str(tif),
            created_ns=now_ns,
        )
        total = self._total(order)
        if total < MIN_TOTAL:
            raise ExchangeError(
                400, f"under_min_total_{side}", "최소주문금액 이상으로 주문해주세요"
            )
        needed, currency = self._needed(order, total)
        if self.free.get(currency, Decimal(0)) < needed:
            word = "매수" if side == "bid" else "매도"
            raise ExchangeError(
                400, f"insufficient_funds_{side}", f"{word} 가능 잔고가 부족합니다."
            )
        return order

    def _total(self, order: LoopOrder) -> Decimal:
        market = self.market
        if order.ord_type == "price":
            return market.price(order.position, order.price_raw)
        if order.ord_type == "market":
            best_bid = market.best(order.position)[0]
            return market.price(order.position, best_bid) * market.size(
                order.position, order.volume_raw
            )
        return market.price(order.position, order.price_raw) * market.size(
            order.position, order.volume_raw
        )

    def _needed(self, order: LoopOrder, total: Decimal) -> tuple[Decimal, str]:
        if order.side == "ask":
            base = self.market.instruments[order.position].base_currency
            return self.market.size(order.position, order.volume_raw), base
        return total + total * self.fee_rate, "KRW"

    # --- money --------------------------------------------------------------------------------

    def _lock(self, order: LoopOrder) -> None:
        total = self._total(order)
        amount, currency = self._needed(order, total)
        if order.side == "bid":
            order.reserved_fee = total * self.fee_rate
        order.locked = amount
        self.free[currency] -= amount
        self.locked[currency] = self.locked.get(currency, Decimal(0)) + amount

    def _fill(
        self, order: LoopOrder, price_raw: int, size_raw: int, now_ns: int, *, taker: bool
    ) -> None:
        market = self.market
        instrument = market.instruments[order.position]
        scale = instrument.price_precision + instrument.size_precision
        funds = from_raw(price_raw * size_raw, scale)
        fee = from_raw(FeeRate(self.fee_rate).fee_raw(price_raw * size_raw), scale)
        base = instrument.base_currency
        self.free.setdefault(base, Decimal(0))
        self.locked.setdefault(base, Decimal(0))
        if order.side == "bid":
            order.locked -= funds + fee
            self.locked["KRW"] -= funds + fee
            self.free[base] += market.size(order.position, size_raw)
        else:
            order.locked -= market.size(order.position, size_raw)
            self.locked[base] -= market.size(order.position, size_raw)
            self.free["KRW"] += funds - fee
        order.executed_raw += size_raw
        order.paid_fee += fee
        order.funds += funds
        order.trades.append(
            {
                "market": order.market,
                "uuid": str(uuid.uuid4()),
                "price": text(market.price(order.position, price_raw)),
                "volume": text(market.size(order.position, size_raw)),
                "funds": text(funds),
                # The taker's side: "up" when a buyer took an ask (Upbit's FAQ: a trade is
                # typed by the taking order).
                "trend": "up" if (order.side == "bid") == taker else "down",
                "created_at": self._kst(now_ns),
                "side": order.side,
            }
        )
        self._notify(order, order.trades[-1], now_ns)

    def _finish(self, order: LoopOrder, state: str) -> None:
        """Close an order and hand back what it still locks."""
        order.state = state
        currency = (
            "KRW" if order.side == "bid" else self.market.instruments[order.position].base_currency
        )
        self.locked[currency] -= order.locked
        self.free[currency] += order.locked
        order.locked = Decimal(0)
        self._notify(order, None, None)
        self._publish_resting(order.position)

    def _notify(self, order: LoopOrder, trade: dict[str, Any] | None, now_ns: int | None) -> None:
        for observer in self.observers:
            observer(order, trade, now_ns)

    # --- matching -----------------------------------------------------------------------------

    def _take(self, order: LoopOrder, now_ns: int) -> None:
        """Trade ``order`` against the opposite side of the simulator's book (taker)."""
        market = self.market
        position = order.position
        buying = order.side == "bid"
        levels = market.sim_levels(position, ASK if buying else BID)
        if order.ord_type == "limit":
            levels = [
                (price, size)
                for price, size in levels
                if (price <= order.price_raw if buying else price >= order.price_raw)
            ]
        if order.time_in_force == "fok" and sum(size for _, size in levels) < order.remaining_raw:
            return  # nothing fills; the caller cancels it
        budget = market.price(position, order.price_raw) if order.ord_type == "price" else None
        for price, size in levels:
            wanted = (
                order.remaining_raw if budget is None else self._affordable(order, budget, price)
            )
            fill = min(size, wanted)
            if fill <= 0:
                break
            market.take(position, ASK if buying else BID, price, fill)
            self._fill(order, price, fill, now_ns, taker=True)
            market.record_trade(position, now_ns, price, fill, BID if buying else ASK)
            if budget is not None:
                budget -= (
                    market.price(position, price)
                    * market.size(position, fill)
                    * (1 + self.fee_rate)
                )
        if order.ord_type == "price":
            order.volume_raw = order.executed_raw  # a KRW-total order has no volume of its own

    def _affordable(self, order: LoopOrder, budget: Decimal, price_raw: int) -> int:
        instrument = self.market.instruments[order.position]
        unit = self.market.price(order.position, price_raw) * (1 + self.fee_rate)
        return int(budget / unit * 10**instrument.size_precision)

    def on_trades(self, trades: list[TradeRecord], now_ns: int) -> None:
        """Simulator prints through a resting order's price fill it (maker), oldest first."""
        for trade in trades:
            left = trade.size_raw
            wanted_side = "bid" if trade.side == ASK else "ask"
            for order in self.orders.values():
                if left <= 0:
                    break
                if order.state != "wait" or order.position != trade.position:
                    continue
                if order.side != wanted_side:
                    continue
                crosses = (
                    trade.price_raw <= order.price_raw
                    if wanted_side == "bid"
                    else trade.price_raw >= order.price_raw
                )
                if not crosses:
                    continue
                fill = min(left, order.remaining_raw)
                self._fill(order, order.price_raw, fill, now_ns, taker=False)
                left -= fill
                if order.remaining_raw == 0:
                    self._finish(order, "done")
            self._publish_resting(trade.position)

    def _publish_resting(self, position: int) -> None:
        resting: dict[tuple[int, int], int] = {}
        for order in self.orders.values():
            if order.state == "wait" and order.position == position and order.ord_type == "limit":
                key = (BID if order.side == "bid" else ASK, order.price_raw)
                resting[key] = resting.get(key, 0) + order.remaining_raw
        self.market.resting[position] = resting

    # --- replies ------------------------------------------------------------------------------

    def _kst(self, ts_ns: int) -> str:
        return kst_text(ts_ns + self.skew_ns)

    def order_object(self, order: LoopOrder, *, with_trades: bool) -> dict[str, Any]:
        """``order`` as Upbit's order object (``GET /v1/order``; ``trades`` on request)."""
        return order_object(order, self.market, self._kst(order.created_ns), with_trades)
