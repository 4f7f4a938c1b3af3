"""Kiwoom execution: place, cancel, query, open orders and balances over the REST API.

Kiwoom has no client order id: the venue numbers orders (``ord_no``) and the account is implied by
the token. The client keeps the mapping from STOM's client order id to ``ord_no`` for the orders it
placed; orders it did not place show with an empty client order id. An order whose place answer
was lost (``query(order, "")``) is found among the day's ``ka10075``/``ka10076`` rows by code,
side, quantity and price, placed no earlier than the first try (a row already mapped to another
order is never taken); none found is :class:`VenueUnavailable` while such a row may still be on its
way (``settle_s``), then :class:`VenueRejected` (``not_found``), never a state with no order number.

Order state comes from two TRs: ``ka10075`` (open orders, remaining quantity) and ``ka10076``
(executions). Each ``ka10076`` row is taken as one execution of an order, with its price, quantity,
the remaining quantity after it, commission and tax; a fill's id is ``<ord_no>-<cumulative filled
quantity>``, stable across queries. The venue's row granularity is not confirmed (protocols.md
§G). Executions reach ``ka10076`` a little after an order leaves ``ka10075``, so a limit order
that is neither open nor fully filled, and was not cancelled by this client nor immediate-or-cancel,
is reported open for ``settle_s`` before it is called cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderSide, OrderType, TimeInForce
from engine.venues.base import (
    Balance,
    VenueFill,
    VenueOrderState,
    VenueOrderStatus,
    VenueRejected,
    VenueUnavailable,
)
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.rest import KiwoomRest
from engine.venues.kiwoom.rules import VENUE

EXCHANGE = "KRX"
_TRADE_TYPE = {
    (OrderType.LIMIT, TimeInForce.GTC): wire.TRDE_LIMIT,
    (OrderType.LIMIT, TimeInForce.IOC): wire.TRDE_LIMIT_IOC,
    (OrderType.LIMIT, TimeInForce.FOK): wire.TRDE_LIMIT_FOK,
    (OrderType.MARKET, TimeInForce.GTC): wire.TRDE_MARKET,
    (OrderType.MARKET, TimeInForce.IOC): wire.TRDE_MARKET_IOC,
    (OrderType.MARKET, TimeInForce.FOK): wire.TRDE_MARKET_FOK,
}
CLOCK_SLACK_NS = 2 * wire.NS
"""Row times are whole seconds of the venue's clock: a row this much before the first try counts."""


@dataclass(slots=True)
class _Placed:
    client_order_id: str
    code: str
    immediate: bool
    """Market, IOC or FOK: whatever did not fill at once is gone."""
    placed_ns: int
    cancelled: bool = False


class KiwoomOrderClient:
    """Signed execution on one Kiwoom account (KRX stocks)."""

    venue = VENUE
    rejects_duplicate_ids = False
    """No client order id: a resend is a second order (see ``OrderClient``)."""

    def __init__(
        self,
        rest_url: str,
        *,
        app_key: Secret,
        secret_key: Secret,
        clock: Clock | None = None,
        requests_per_second: float = 5.0,
        renew_margin_s: float = 300.0,
        settle_s: float = 5.0,
        rest: KiwoomRest | None = None,
    ) -> None:
        self._clock = clock or LiveClock()
        self._rest = rest or KiwoomRest(
            rest_url,
            app_key,
            secret_key,
            clock=self._clock,
            requests_per_second=requests_per_second,
            renew_margin_s=renew_margin_s,
        )
        self._settle_ns = int(settle_s * wire.NS)
        self._placed: dict[str, _Placed] = {}
        """By venue order number; an order leaves once a query has reported it ended."""
        self._ended: set[str] = set()
        """Numbers of today's ended orders, forgotten from ``_placed``: never matched to an
        order whose place answer was lost (the day's TRs still list their rows)."""
        self._ended_day = 0
        self._tries: dict[str, int] = {}
        """Client order id -> time of the first place try not answered yet."""

    @property
    def rest(self) -> KiwoomRest:
        return self._rest

    async def place(self, order: Order, instrument: Instrument) -> str:
        code = instrument.id.symbol
        trade_type = _TRADE_TYPE[(order.order_type, order.time_in_force)]
        market = order.order_type is OrderType.MARKET
        body = {
            "dmst_stex_tp": EXCHANGE,
            "stk_cd": code,
            "ord_qty": str(order.quantity_raw),
            "ord_uv": "" if market else str(order.price_raw),
            "trde_tp": trade_type,
            "cond_uv": "",
        }
        api_id = wire.BUY if order.side is OrderSide.BUY else wire.SELL
        coid = order.client_order_id
        self._tries.setdefault(coid, self._clock.now_ns())
        try:
            answer, _ = await self._rest.post(wire.ORDER_PATH, api_id, body)
        except VenueRejected:
            self._tries.pop(coid, None)
            raise
        placed_ns = self._tries.pop(coid, self._clock.now_ns())
        number = str(answer.get("ord_no") or "")
        if not number:
            raise VenueRejected(
                str(answer.get("return_code", "")), "the venue gave no order number"
            )
        immediate = market or order.time_in_force is not TimeInForce.GTC
        self._placed[number] = _Placed(coid, code, immediate, placed_ns)
        return number

    async def cancel(self, order: Order, venue_order_id: str) -> None:
        body = {
            "dmst_stex_tp": EXCHANGE,
            "orig_ord_no": venue_order_id,
            "stk_cd": order.instrument_id.rpartition(".")[0],
            "cncl_qty": "0",  # all that remains
        }
        await self._rest.post(wire.ORDER_PATH, wire.CANCEL, body)
        placed = self._placed.get(venue_order_id)
        if placed is not None:
            placed.cancelled = True

    async def query(self, order: Order, venue_order_id: str) -> VenueOrderState:
        code = order.instrument_id.rpartition(".")[0]
        open_rows = await self._open_rows(code)
        executions = await self._execution_rows(code)
        if not venue_order_id:
            venue_order_id = self._find(order, open_rows, executions)
        row = next((r for r in open_rows if r.get("ord_no") == venue_order_id), None)
        fills = _fills(order.client_order_id, venue_order_id, executions, self._clock.now_ns())
        filled = sum(fill.quantity_raw for fill in fills)
        if row is not None:
            status = VenueOrderStatus.OPEN
            filled = max(filled, _int(row.get("ord_qty")) - _int(row.get("oso_qty")))
        elif filled >= order.quantity_raw:
            status = VenueOrderStatus.FILLED
        else:
            status = self._closed_status(venue_order_id)
        if status is not VenueOrderStatus.OPEN:
            self._forget(venue_order_id)
        return VenueOrderState(
            client_order_id=order.client_order_id,
            venue_order_id=venue_order_id,
            instrument_id=order.instrument_id,
            status=status,
            filled_raw=filled,
            fills=fills,
        )

    async def open_orders(self) -> list[VenueOrderState]:
        rows = await self._open_rows("")
        executions = await self._execution_rows("")
        states = []
        for row in rows:
            number = str(row.get("ord_no", ""))
            placed = self._placed.get(number)
            client_id = placed.client_order_id if placed else ""
            fills = _fills(client_id, number, executions, self._clock.now_ns())
            states.append(
                VenueOrderState(
                    client_order_id=client_id,
                    venue_order_id=number,
                    instrument_id=f"{_code(row.get('stk_cd'))}.{VENUE}",
                    status=VenueOrderStatus.OPEN,
                    filled_raw=_int(row.get("ord_qty")) - _int(row.get("oso_qty")),
                    fills=fills,
                )
            )
        return states

    async def balances(self) -> list[Balance]:
        deposit, _ = await self._rest.post(wire.ACCOUNT_PATH, wire.DEPOSIT, {"qry_tp": "3"})
        cash = Decimal(_int(deposit.get("entr")))
        orderable = Decimal(_int(deposit.get("ord_alow_amt")))
        balances = [Balance("KRW", orderable, cash - orderable)]
        holdings = await self._rest.post_pages(
            wire.ACCOUNT_PATH,
            wire.ACCOUNT_BALANCE,
            {"qry_tp": "1", "dmst_stex_tp": EXCHANGE},
            "acnt_evlt_remn_indv_tot",
        )
        for row in holdings:
            held = _int(row.get("rmnd_qty"))
            free = _int(row.get("trde_able_qty"))
            balances.append(Balance(_code(row.get("stk_cd")), Decimal(free), Decimal(held - free)))
        return balances

    async def close(self) -> None:
        await self._rest.revoke()
        await self._rest.close()

    # --- internals -----------------------------------------------------------------------------

    async def _open_rows(self, code: str) -> list[dict[str, Any]]:
        body = {"all_stk_tp": "1" if code else "0", "trde_tp": "0", "stex_tp": "1", "stk_cd": code}
        return await self._rest.post_pages(wire.ACCOUNT_PATH, wire.OPEN_ORDERS, body, "oso")

    async def _execution_rows(self, code: str) -> list[dict[str, Any]]:
        body = {
            "qry_tp": "1" if code else "0",
            "sell_tp": "0",
            "stex_tp": "1",
            "stk_cd": code,
            "ord_no": "",
        }
        return await self._rest.post_pages(wire.ACCOUNT_PATH, wire.EXECUTIONS, body, "cntr")

    def _find(
        self, order: Order, open_rows: list[dict[str, Any]], executions: list[dict[str, Any]]
    ) -> str:
        """The order number of ``order``, placed but never answered (see the module docstring)."""
        coid = order.client_order_id
        for number, placed in self._placed.items():
            if placed.client_order_id == coid:
                return number
        now = self._clock.now_ns()
        since = self._tries.get(coid, order.ts_created)
        day = wire.kst_midnight_ns(now)
        found = {
            str(row.get("ord_no") or "")
            for rows, time_field in ((open_rows, "tm"), (executions, "ord_tm"))
            for row in rows
            if _same_order(order, row)
            and _time_of(row.get(time_field), day, now) >= since - CLOCK_SLACK_NS
        }
        found -= self._placed.keys()
        found -= self._ended
        found.discard("")
        if found:
            number = min(found, key=lambda n: (len(n), n))  # the first one placed
            market = order.order_type is OrderType.MARKET
            immediate = market or order.time_in_force is not TimeInForce.GTC
            code = order.instrument_id.rpartition(".")[0]
            self._placed[number] = _Placed(coid, code, immediate, since)
            self._tries.pop(coid, None)
            return number
        if now - since < self._settle_ns:
            raise VenueUnavailable(f"order {coid} is not listed by {VENUE} yet")
        self._tries.pop(coid, None)
        raise VenueRejected("not_found", f"no order on {VENUE} matches {coid}")

    def _forget(self, number: str) -> None:
        """Drop an ended order's entry once a query reports its end. Asked again, it answers the
        same (filled from its executions, else cancelled); its number stays excluded from
        matching until the day ends (the TRs list only the day's rows)."""
        day = wire.kst_midnight_ns(self._clock.now_ns())
        if day != self._ended_day:
            self._ended.clear()
            self._ended_day = day
        if self._placed.pop(number, None) is not None:
            self._ended.add(number)

    def _closed_status(self, number: str) -> VenueOrderStatus:
        placed = self._placed.get(number)
        if placed is None or placed.cancelled or placed.immediate:
            return VenueOrderStatus.CANCELED
        if self._clock.now_ns() - placed.placed_ns < self._settle_ns:
            return VenueOrderStatus.OPEN  # executions may not have reached ka10076 yet
        return VenueOrderStatus.CANCELED


def _fills(
    client_id: str, number: str, rows: list[dict[str, Any]], now_ns: int
) -> tuple[VenueFill, ...]:
    """Executions of order ``number``, oldest first. Kiwoom does not say maker or taker (KRX fees
    are the same either way): fills are reported as taker."""
    day = wire.kst_midnight_ns(now_ns)
    fills = []
    for row in rows:
        if row.get("ord_no") != number:
            continue
        quantity = _int(row.get("cntr_qty"))
        if quantity <= 0:
            continue
        cumulative = _int(row.get("ord_qty")) - _int(row.get("oso_qty"))
        fills.append(
            VenueFill(
                trade_id=f"{number}-{cumulative}",
                client_order_id=client_id,
                price_raw=wire.price_of(str(row.get("cntr_pric") or "0")),
                quantity_raw=quantity,
                fee_raw=_int(row.get("tdy_trde_cmsn")) + _int(row.get("tdy_trde_tax")),
                liquidity="taker",
                ts=_time_of(row.get("ord_tm"), day, now_ns),
            )
        )
    fills.sort(key=lambda fill: int(fill.trade_id.rpartition("-")[2]))
    return tuple(fills)


def _same_order(order: Order, row: dict[str, Any]) -> bool:
    """Whether a ``ka10075``/``ka10076`` row is an order like ``order`` (a market order's row
    carries the price limit, not a price)."""
    side = str(row.get("io_tp_nm") or "")
    wanted = "매수" if order.side is OrderSide.BUY else "매도"
    return (
        wanted in side
        and "취소" not in side
        and "정정" not in side
        and _code(row.get("stk_cd")) == order.instrument_id.rpartition(".")[0]
        and _int(row.get("ord_qty")) == order.quantity_raw
        and (order.order_type is OrderType.MARKET or _int(row.get("ord_pric")) == order.price_raw)
    )


def _time_of(value: object, day_ns: int, now_ns: int) -> int:
    text = str(value or "")
    return day_ns + wire.hhmmss_ns(text) if len(text) == 6 and text.isdigit() else now_ns


def _int(value: object) -> int:
    try:
        return abs(int(str(value).strip() or 0))
    except ValueError:
        return 0


def _code(value: object) -> str:
    """``A005930`` (balance lists prefix codes) or ``005930`` -> ``005930``."""
    text = str(value or "")
    return text[1:] if text[:1].isalpha() else text
