"""The loopback's ``00`` (주문체결) real-time: the account's order events, from the desk's state.

Kiwoom's document for ``00`` (국내주식 > 실시간시세 > 주문체결): register with
``{"trnm":"REG","grp_no":…,"refresh":…,"data":[{"item":[""],"type":["00"]}]}``; the events of the
account whose token logged in arrive "regardless of item registration" as ``REAL`` items of type
``00`` with a FID map: ``9201`` account, ``9203`` order number, ``9001`` code, ``913`` status
(접수, 체결, 확인, 취소, 거부), ``302`` name, ``900`` order quantity, ``901`` order price, ``902``
unfilled quantity, ``903`` cumulative fill amount, ``904`` original order number, ``905`` order
kind (``+매수``, ``-매도``, ``매수취소`` …), ``906`` trade type name, ``907`` side (1 sell, 2 buy),
``908`` order/fill time (HHMMSS), ``909`` fill number, ``910``/``911`` fill price and quantity,
``938``/``939`` commission and tax, ``2134``/``2135`` exchange.

:meth:`OrderEvents.collect` compares every order of the desk with what was last reported and
returns the new events (an acceptance, each execution, a cancel's confirmation); the server sends
them to every connection that registered ``00``, after each REST request and market step, with a
``04`` (잔고: ``930`` holding, ``931`` average price, ``933`` sellable) after each execution to
those that registered ``04``. Events made while no one is registered are never sent later (the
venue does not replay them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.venues.kiwoom import wire
from engine.venues.kiwoom.loopback_exchange import Desk, DeskOrder, Execution

REAL_ORDER = "00"
REAL_BALANCE = "04"
ACCOUNT = "5012345611"
_TRADE_TYPE_NAMES = {
    wire.TRDE_LIMIT: "보통",
    wire.TRDE_MARKET: "시장가",
    wire.TRDE_LIMIT_IOC: "보통(IOC)",
    wire.TRDE_MARKET_IOC: "시장가(IOC)",
    wire.TRDE_LIMIT_FOK: "보통(FOK)",
    wire.TRDE_MARKET_FOK: "시장가(FOK)",
}
_IMMEDIATE = {
    wire.TRDE_MARKET,
    wire.TRDE_LIMIT_IOC,
    wire.TRDE_MARKET_IOC,
    wire.TRDE_LIMIT_FOK,
    wire.TRDE_MARKET_FOK,
}


class OrderEvents:
    """What of the desk's orders was reported on ``00``, and the events not reported yet."""

    def __init__(self, desk: Desk, name_of: Callable[[str], str]) -> None:
        self._desk = desk
        self._names = name_of
        self._reported: dict[str, int] = {}
        """Order number -> executions reported (absent: not even its acceptance)."""
        self._ended: set[str] = set()
        self._cancel_numbers = 0
        self.refused_until = 0.0
        """Realtime connections are refused until this monotonic time (an outage)."""
        self.sent = 0
        """``00`` items sent to a registered connection (tests check what the stream carried)."""

    def refuse_for(self, seconds: float) -> None:
        self.refused_until = time.monotonic() + seconds

    def collect(self) -> list[dict[str, Any]]:
        """The ``REAL`` items of every event since the last call."""
        items: list[dict[str, Any]] = []
        for order in list(self._desk.orders.values()):
            if order.number in self._ended:
                continue
            done = self._reported.get(order.number)
            if done is None:
                items.append(self._item(order, "접수", None, order.quantity))
                done = 0
            for execution in order.executions[done:]:
                items.append(self._item(order, "체결", execution, execution.remaining_after))
                items.append(self._balance(order.code))
            self._reported[order.number] = len(order.executions)
            if not order.open:
                self._ended.add(order.number)
                if order.remaining and order.trade_type not in _IMMEDIATE:
                    items.append(self._cancel_confirmation(order))
        return items

    def _item(
        self, order: DeskOrder, status: str, execution: Execution | None, unfilled: int
    ) -> dict[str, Any]:
        filled_amount = 0
        for done in order.executions:
            filled_amount += done.price * done.quantity
            if done is execution:
                break
        values = self._values(order, status, unfilled)
        values |= {
            "903": str(filled_amount if execution is not None else 0),
            "908": execution.time if execution is not None else order.time,
            "909": f"{len(order.executions):07d}" if execution is not None else "",
            "910": str(execution.price) if execution is not None else "",
            "911": str(execution.quantity) if execution is not None else "",
            "914": str(execution.price) if execution is not None else "",
            "915": str(execution.quantity) if execution is not None else "",
            "938": str(execution.commission) if execution is not None else "0",
            "939": str(execution.tax) if execution is not None else "0",
        }
        return {"type": REAL_ORDER, "name": "주문체결", "item": order.code, "values": values}

    def _balance(self, code: str) -> dict[str, Any]:
        """``04`` (잔고) after an execution: the holding (930) and what may be sold (933)."""
        desk = self._desk
        values = {
            "9201": ACCOUNT,
            "9001": code,
            "302": self._names(code),
            "930": str(desk.holdings.get(code, 0)),
            "931": str(desk.average_price.get(code, 0)),
            "933": str(max(0, desk.sellable(code))),
        }
        return {"type": REAL_BALANCE, "name": "현물잔고", "item": code, "values": values}

    def _cancel_confirmation(self, order: DeskOrder) -> dict[str, Any]:
        self._cancel_numbers += 1
        values = self._values(order, "확인", order.remaining)
        values |= {
            "9203": f"{9_000_000 + self._cancel_numbers:07d}",
            "904": order.number,
            "905": "매수취소" if order.buy else "매도취소",
            "900": str(order.remaining),
            "908": order.time,
        }
        return {"type": REAL_ORDER, "name": "주문체결", "item": order.code, "values": values}

    def _values(self, order: DeskOrder, status: str, unfilled: int) -> dict[str, str]:
        return {
            "9201": ACCOUNT,
            "9203": order.number,
            "9205": "",
            "9001": order.code,
            "912": "JJ",
            "913": status,
            "302": self._names(order.code),
            "900": str(order.quantity),
            "901": str(order.price if order.trade_type != wire.TRDE_MARKET else 0),
            "902": str(unfilled),
            "904": "0000000",
            "905": "+매수" if order.buy else "-매도",
            "906": _TRADE_TYPE_NAMES.get(order.trade_type, order.trade_type),
            "907": "2" if order.buy else "1",
            "919": "0",
            "2134": "1",
            "2135": "KRX",
            "2136": "N",
        }
