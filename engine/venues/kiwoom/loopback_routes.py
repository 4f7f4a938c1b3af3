"""The loopback server's TR handlers: ``(path, api-id)`` -> answer body (+ ``next-key``).

Field names follow the official repo's TR tables (ka10001, ka10003, ka10075, ka10076, ka10080,
kt00001, kt00018, kt10000-kt10003). Numbers are strings, prices signed against the base price where
the venue signs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from engine.venues.kiwoom import wire
from engine.venues.kiwoom.loopback_exchange import Desk, DeskOrder, DeskRefusal
from engine.venues.kiwoom.loopback_market import LoopbackMarket, StockState, signed_price

Answer = tuple[dict[str, Any], str | None]
Handler = Callable[[dict[str, Any], str | None], Answer]
PAGE_ROWS = 20
_MARKETS = {
    "KOSPI": ("0", "거래소"),
    "KOSDAQ": ("10", "코스닥"),
    "KONEX": ("50", "코넥스"),
    "ETF": ("8", "ETF"),
    "ETN": ("60", "ETN"),
    "ELW": ("3", "ELW"),
}
"""``ka10100``'s ``marketCode`` / ``marketName`` per market."""


class RoutesServer(Protocol):
    """What the handlers use of the server (:class:`~engine.venues.kiwoom.loopback.KiwoomLoopback`),
    named here so that this module need not import the server that imports it."""

    market: LoopbackMarket
    desk: Desk

    def session_time(self) -> str:
        """``HHMMSS`` of the simulated session clock, for order and execution rows."""
        ...


class AccountRoutes:
    """Handlers bound to one loopback server (its market, desk and clock)."""

    def __init__(self, server: RoutesServer) -> None:
        self._server = server
        self._table: dict[tuple[str, str], Handler] = {
            (wire.STOCK_INFO_PATH, wire.STOCK_INFO): self._stock_info,
            (wire.STOCK_INFO_PATH, wire.STOCK_LOOKUP): self._stock_lookup,
            (wire.STOCK_INFO_PATH, wire.TRADE_INFO): self._trade_info,
            (wire.CHART_PATH, wire.MINUTE_CHART): self._minute_chart,
            (wire.ORDER_PATH, wire.BUY): lambda body, _: self._order(body, buy=True),
            (wire.ORDER_PATH, wire.SELL): lambda body, _: self._order(body, buy=False),
            (wire.ORDER_PATH, wire.CANCEL): self._cancel,
            (wire.ACCOUNT_PATH, wire.DEPOSIT): self._deposit,
            (wire.ACCOUNT_PATH, wire.ACCOUNT_BALANCE): self._holdings,
            (wire.ACCOUNT_PATH, wire.OPEN_ORDERS): self._open_orders,
            (wire.ACCOUNT_PATH, wire.EXECUTIONS): self._executions,
        }

    def handler(self, path: str, api_id: str) -> Handler | None:
        return self._table.get((path, api_id))

    # --- market --------------------------------------------------------------------------------

    def _stock(self, body: dict[str, Any]) -> StockState:
        code = str(body.get("stk_cd", ""))
        stock = self._server.market.by_code.get(code)
        if stock is None:
            raise DeskRefusal("1902", f"종목코드({code})가 존재하지 않습니다")
        return stock

    def _stock_info(self, body: dict[str, Any], _: str | None) -> Answer:
        stock = self._stock(body)
        base = stock.limits.base
        last = stock.last_price or base
        return {
            "stk_cd": stock.code,
            "stk_nm": stock.name,
            "base_pric": str(base),
            "upl_pric": f"+{stock.limits.upper}",
            "lst_pric": f"-{stock.limits.lower}",
            "cur_prc": signed_price(last, base),
            "pred_pre": f"{last - base:+d}",
            "trde_qty": str(stock.cum_volume),
            "open_pric": signed_price(stock.open_price, base),
            "high_pric": signed_price(stock.high_price, base),
            "low_pric": signed_price(stock.low_price, base),
        }, None

    def _stock_lookup(self, body: dict[str, Any], _: str | None) -> Answer:
        """``ka10100`` 종목정보 조회: the stock's listing, with its market (``marketCode`` as in
        ``ka10099``'s ``mrkt_tp``, ``marketName``)."""
        stock = self._stock(body)
        segment = self._server.desk.segment(stock.code)
        code, name = _MARKETS[segment]
        return {
            "code": stock.code,
            "name": stock.name,
            "listCount": "0000000100000000",
            "auditInfo": "정상",
            "regDay": "19750611",
            "lastPrice": str(stock.limits.base),
            "state": "증거금20%|담보대출|신용가능",
            "marketCode": code,
            "marketName": name,
            "upName": "",
            "upSizeName": "",
            "companyClassName": "",
            "orderWarning": "0",
            "nxtEnable": "Y",
        }, None

    def _trade_info(self, body: dict[str, Any], _: str | None) -> Answer:
        stock = self._stock(body)
        base = stock.limits.base
        rows = [
            {
                "tm": wire.kst_text(ts, "%H%M%S"),
                "cur_prc": signed_price(price, base),
                "pred_pre": f"{price - base:+d}",
                "cntr_trde_qty": f"{signed:+d}",
                "acc_trde_qty": str(cum),
                "stex_tp": "KRX",
            }
            for ts, price, signed, cum in reversed(stock.trades[-100:])
        ]
        return {"cntr_infr": rows}, None

    def _minute_chart(self, body: dict[str, Any], next_key: str | None) -> Answer:
        stock = self._stock(body)
        bars: dict[int, list[int]] = {}
        for ts, price, signed, _ in stock.trades:
            minute = ts // (60 * wire.NS) * 60 * wire.NS
            bar = bars.get(minute)
            if bar is None:
                bars[minute] = [price, price, price, price, abs(signed)]
            else:
                bar[1] = max(bar[1], price)
                bar[2] = min(bar[2], price)
                bar[3] = price
                bar[4] += abs(signed)
        base = stock.limits.base
        rows = [
            {
                "cntr_tm": wire.kst_text(minute),
                "open_pric": signed_price(bar[0], base),
                "high_pric": signed_price(bar[1], base),
                "low_pric": signed_price(bar[2], base),
                "cur_prc": signed_price(bar[3], base),
                "trde_qty": str(bar[4]),
            }
            for minute, bar in sorted(bars.items(), reverse=True)
        ]
        page, key = _page(rows, next_key)
        return {"stk_cd": stock.code, "stk_min_pole_chart_qry": page}, key

    # --- orders --------------------------------------------------------------------------------

    def _order(self, body: dict[str, Any], *, buy: bool) -> Answer:
        stock = self._stock(body)
        order = self._server.desk.place(stock, buy, body, self._server.session_time())
        return {"ord_no": order.number, "dmst_stex_tp": "KRX"}, None

    def _cancel(self, body: dict[str, Any], _: str | None) -> Answer:
        original = str(body.get("orig_ord_no", ""))
        number, quantity = self._server.desk.cancel(original, str(body.get("stk_cd", "")))
        return {"ord_no": number, "base_orig_ord_no": original, "cncl_qty": str(quantity)}, None

    # --- account -------------------------------------------------------------------------------

    def _deposit(self, body: dict[str, Any], _: str | None) -> Answer:
        desk = self._server.desk
        return {"entr": str(desk.cash), "ord_alow_amt": str(desk.orderable_cash())}, None

    def _holdings(self, body: dict[str, Any], next_key: str | None) -> Answer:
        desk = self._server.desk
        market = self._server.market.by_code
        rows = []
        for code, quantity in sorted(desk.holdings.items()):
            if quantity <= 0:
                continue
            price = market[code].last_price or market[code].limits.base
            rows.append(
                {
                    "stk_cd": f"A{code}",
                    "stk_nm": market[code].name,
                    "rmnd_qty": str(quantity),
                    "trde_able_qty": str(desk.sellable(code)),
                    "pur_pric": str(desk.average_price.get(code, price)),
                    "cur_prc": str(price),
                    "evlt_amt": str(price * quantity),
                }
            )
        page, key = _page(rows, next_key)
        return {
            "tot_evlt_amt": str(sum(int(r["evlt_amt"]) for r in rows)),
            "acnt_evlt_remn_indv_tot": page,
        }, key

    def _open_orders(self, body: dict[str, Any], next_key: str | None) -> Answer:
        code = str(body.get("stk_cd") or "")
        rows = [
            _order_row(order, self._server.market.by_code[order.code])
            for order in reversed(self._server.desk.orders.values())
            if order.open and (not code or order.code == code)
        ]
        page, key = _page(rows, next_key)
        return {"oso": page}, key

    def _executions(self, body: dict[str, Any], next_key: str | None) -> Answer:
        code = str(body.get("stk_cd") or "") if body.get("qry_tp") == "1" else ""
        side = str(body.get("sell_tp") or "0")
        rows = []
        for order in reversed(self._server.desk.orders.values()):
            if code and order.code != code:
                continue
            if (side == "1" and order.buy) or (side == "2" and not order.buy):
                continue
            for execution in reversed(order.executions):
                rows.append(
                    {
                        "ord_no": order.number,
                        "stk_cd": order.code,
                        "stk_nm": self._server.market.by_code[order.code].name,
                        "io_tp_nm": "+매수" if order.buy else "-매도",
                        "ord_pric": str(order.price),
                        "ord_qty": str(order.quantity),
                        "cntr_pric": str(execution.price),
                        "cntr_qty": str(execution.quantity),
                        "oso_qty": str(execution.remaining_after),
                        "tdy_trde_cmsn": str(execution.commission),
                        "tdy_trde_tax": str(execution.tax),
                        "ord_stt": "체결",
                        "trde_tp": _trade_type_name(order.trade_type),
                        "orig_ord_no": "",
                        "ord_tm": execution.time,
                        "stex_tp": "1",
                        "stex_tp_txt": "KRX",
                        "sor_yn": "N",
                        "stop_pric": "",
                    }
                )
        page, key = _page(rows, next_key)
        return {"cntr": page}, key


def _order_row(order: DeskOrder, stock: StockState) -> dict[str, str]:
    filled_amount = sum(e.price * e.quantity for e in order.executions)
    last = order.executions[-1] if order.executions else None
    return {
        "ord_no": order.number,
        "stk_cd": order.code,
        "stk_nm": stock.name,
        "ord_stt": "체결" if order.executions else "접수",
        "ord_qty": str(order.quantity),
        "ord_pric": str(order.price),
        "oso_qty": str(order.remaining),
        "cntr_tot_amt": str(filled_amount),
        "orig_ord_no": "",
        "io_tp_nm": "+매수" if order.buy else "-매도",
        "trde_tp": _trade_type_name(order.trade_type),
        "tm": order.time,
        "cntr_pric": str(last.price) if last else "",
        "cntr_qty": str(order.filled),
        "cur_prc": str(stock.last_price or stock.limits.base),
        "stex_tp": "1",
        "stex_tp_txt": "KRX",
        "sor_yn": "N",
    }


def _trade_type_name(code: str) -> str:
    return {"0": "보통", "3": "시장가"}.get(code, code)


def _page(
    rows: list[dict[str, str]], next_key: str | None
) -> tuple[list[dict[str, str]], str | None]:
    start = int(next_key) if next_key and next_key.isdigit() else 0
    end = start + PAGE_ROWS
    return rows[start:end], str(end) if end < len(rows) else None
