"""The loopback server's REST endpoints: Binance spot request parameters in, Binance JSON out.

Each handler takes the merged request parameters (query wins over the form body, as on Binance)
and the server time, and returns the reply body or raises :class:`BinanceError`. Shapes and
weights follow protocols.md §B.2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.domain.market_data import ASK, BID
from engine.venues.binance.loopback_exchange import LoopbackExchange
from engine.venues.binance.loopback_filters import avg_price_json, filters_json
from engine.venues.binance.loopback_market import E8, LoopbackMarket, PublicTrade, e8_text
from engine.venues.binance.loopback_orders import BinanceError, LoopbackOrder

Params = dict[str, str]
Handler = Callable[["LoopbackApi", Params, int], Any]

KLINE_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


def depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


class LoopbackApi:
    """REST endpoint handlers over the loopback market and exchange."""

    def __init__(self, market: LoopbackMarket, exchange: LoopbackExchange, weight_limit: int):
        self.market = market
        self.exchange = exchange
        self.weight_limit = weight_limit

    def route(self, method: str, path: str) -> tuple[Handler, bool, int] | None:
        """``(handler, signed, weight)`` for ``METHOD /api/v3/<path>``, or None."""
        return ROUTES.get((method, path))

    # --- public -------------------------------------------------------------------------------

    def ping(self, params: Params, now_ms: int) -> Any:
        return {}

    def time(self, params: Params, now_ms: int) -> Any:
        return {"serverTime": now_ms}

    def exchange_info(self, params: Params, now_ms: int) -> Any:
        wanted = list(self.market.books)
        if params.get("symbol"):
            wanted = [params["symbol"]]
        elif params.get("symbols"):
            try:
                wanted = [str(s) for s in json.loads(params["symbols"])]
            except (ValueError, TypeError):
                raise BinanceError(
                    -1100, "Illegal characters found in parameter 'symbols'."
                ) from None
        if any(symbol not in self.market.books for symbol in wanted):
            raise BinanceError(-1121, "Invalid symbol.")
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [
                _rate("REQUEST_WEIGHT", "MINUTE", 1, self.weight_limit),
                _rate("ORDERS", "SECOND", 10, 50),
                _rate("ORDERS", "DAY", 1, 160000),
                _rate("RAW_REQUESTS", "MINUTE", 5, 61000),
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(symbol) for symbol in wanted],
        }

    def avg_price(self, params: Params, now_ms: int) -> Any:
        book = self.market.books[_symbol(self, params)]
        return avg_price_json(book, self.exchange.rules, now_ms)

    def depth(self, params: Params, now_ms: int) -> Any:
        book = self.market.books[_symbol(self, params)]
        limit = _int(params, "limit", 100, 5000)
        return {
            "lastUpdateId": book.update_id,
            "bids": [[e8_text(p), e8_text(q)] for p, q in book.levels(BID, limit)],
            "asks": [[e8_text(p), e8_text(q)] for p, q in book.levels(ASK, limit)],
        }

    def trades(self, params: Params, now_ms: int) -> Any:
        book = self.market.books[_symbol(self, params)]
        limit = _int(params, "limit", 500, 1000)
        recent = list(book.trades)[-limit:]
        return [_trade_json(trade) for trade in recent]

    def klines(self, params: Params, now_ms: int) -> Any:
        book = self.market.books[_symbol(self, params)]
        interval = params.get("interval", "")
        if interval not in KLINE_MS:
            raise BinanceError(-1120, "Invalid interval.")
        span = KLINE_MS[interval]
        limit = _int(params, "limit", 500, 1000)
        start = int(params.get("startTime") or 0)
        end = int(params.get("endTime") or now_ms)
        rows: dict[int, list[Any]] = {}
        for trade in book.trades:
            open_ms = trade.time_ms - trade.time_ms % span
            if not start <= open_ms <= end:  # candles are chosen by their open time
                continue
            row = rows.get(open_ms)
            quote = trade.price * trade.qty // E8
            if row is None:
                price = trade.price
                rows[open_ms] = row = [open_ms, price, price, price, 0, 0, 0, 0, 0]
            row[2] = max(row[2], trade.price)
            row[3] = min(row[3], trade.price)
            row[4] = trade.price
            row[5] += trade.qty
            row[6] += quote
            row[7] += 1
            if not trade.buyer_is_maker:
                row[8] += trade.qty
        ordered = [rows[key] for key in sorted(rows)]
        ordered = ordered[:limit] if params.get("startTime") else ordered[-limit:]
        return [_kline_json(row, span) for row in ordered]

    # --- signed -------------------------------------------------------------------------------

    def new_order(self, params: Params, now_ms: int) -> Any:
        order = self.exchange.place(params, now_ms)
        kind = params.get("newOrderRespType") or "FULL"
        ack = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": now_ms,
        }
        if kind == "ACK":
            return ack
        body = order.as_json() | ack
        if kind == "FULL":
            body["fills"] = [
                {
                    "price": e8_text(fill.price),
                    "qty": e8_text(fill.qty),
                    "commission": e8_text(fill.commission),
                    "commissionAsset": fill.commission_asset,
                    "tradeId": fill.trade_id,
                }
                for fill in order.fills
            ]
        return body

    def get_order(self, params: Params, now_ms: int) -> Any:
        return self.exchange.find(params, BinanceError(-2013, "Order does not exist.")).as_json()

    def cancel_order(self, params: Params, now_ms: int) -> Any:
        order = self.exchange.cancel(params, now_ms)
        return _canceled_json(order, params)

    def open_orders(self, params: Params, now_ms: int) -> Any:
        symbol = params.get("symbol") or None
        if symbol is not None and symbol not in self.market.books:
            raise BinanceError(-1121, "Invalid symbol.")
        return [order.as_json() for order in self.exchange.open_orders(symbol)]

    def cancel_open_orders(self, params: Params, now_ms: int) -> Any:
        symbol = _symbol(self, params)
        orders = self.exchange.open_orders(symbol)
        if not orders:
            raise BinanceError(-2011, "Unknown order sent.")
        return [
            _canceled_json(
                self.exchange.cancel({"symbol": symbol, "orderId": str(o.order_id)}, now_ms), {}
            )
            for o in orders
        ]

    def account(self, params: Params, now_ms: int) -> Any:
        omit_zero = params.get("omitZeroBalances") == "true"
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms,
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": e8_text(free), "locked": e8_text(locked)}
                for asset, (free, locked) in sorted(self.exchange.balances.items())
                if not omit_zero or free or locked
            ],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def my_trades(self, params: Params, now_ms: int) -> Any:
        symbol = _symbol(self, params)
        order_id = int(params["orderId"]) if params.get("orderId") else None
        rows: list[dict[str, Any]] = []
        for order in self.exchange.orders.values():
            if order.symbol != symbol or order_id not in (None, order.order_id):
                continue
            for fill in order.fills:
                rows.append(
                    {
                        "symbol": symbol,
                        "id": fill.trade_id,
                        "orderId": order.order_id,
                        "orderListId": -1,
                        "price": e8_text(fill.price),
                        "qty": e8_text(fill.qty),
                        "quoteQty": e8_text(fill.price * fill.qty // E8),
                        "commission": e8_text(fill.commission),
                        "commissionAsset": fill.commission_asset,
                        "time": fill.time_ms,
                        "isBuyer": order.side == "BUY",
                        "isMaker": fill.is_maker,
                        "isBestMatch": True,
                    }
                )
        rows.sort(key=lambda row: row["id"])
        return rows[-_int(params, "limit", 500, 1000) :]

    # --- shapes -------------------------------------------------------------------------------

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        profile = self.market.books[symbol].profile
        rules = self.exchange.rules
        return {
            "symbol": symbol,
            "status": "TRADING",
            "baseAsset": profile.base,
            "baseAssetPrecision": 8,
            "quoteAsset": profile.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": False,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "amendAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": e8_text(profile.tick_e8),
                    "maxPrice": "1000000.00000000",
                    "tickSize": e8_text(profile.tick_e8),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": e8_text(profile.step_e8),
                    "maxQty": "9000.00000000",
                    "stepSize": e8_text(profile.step_e8),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": e8_text(rules.market_max_qty_e8),
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": e8_text(profile.min_notional_e8),
                    "applyMinToMarket": True,
                    "maxNotional": e8_text(rules.max_notional_e8),
                    "applyMaxToMarket": rules.apply_max_to_market,
                    "avgPriceMins": rules.avg_price_mins,
                },
                *filters_json(rules),
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


def _rate(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def _symbol(api: LoopbackApi, params: Params) -> str:
    symbol = params.get("symbol", "")
    if not symbol:
        raise BinanceError(
            -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    if symbol not in api.market.books:
        raise BinanceError(-1121, "Invalid symbol.")
    return symbol


def _int(params: Params, name: str, default: int, maximum: int) -> int:
    text = params.get(name)
    if not text:
        return default
    if not text.isdigit():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return max(1, min(int(text), maximum))


def _trade_json(trade: PublicTrade) -> dict[str, Any]:
    return {
        "id": trade.trade_id,
        "price": e8_text(trade.price),
        "qty": e8_text(trade.qty),
        "quoteQty": e8_text(trade.price * trade.qty // E8),
        "time": trade.time_ms,
        "isBuyerMaker": trade.buyer_is_maker,
        "isBestMatch": True,
    }


def _kline_json(row: list[Any], span: int) -> list[Any]:
    open_ms, o, h, low, c, volume, quote, count, taker_base = row
    taker_quote = taker_base * c // E8
    return [
        open_ms,
        e8_text(o),
        e8_text(h),
        e8_text(low),
        e8_text(c),
        e8_text(volume),
        open_ms + span - 1,
        e8_text(quote),
        count,
        e8_text(taker_base),
        e8_text(taker_quote),
        "0",
    ]


def _canceled_json(order: LoopbackOrder, params: Params) -> dict[str, Any]:
    body = order.as_json()
    body["origClientOrderId"] = order.client_order_id
    body["clientOrderId"] = params.get("newClientOrderId") or f"cancel{order.order_id}"
    body["transactTime"] = order.update_ms
    return body


ROUTES: dict[tuple[str, str], tuple[Handler, bool, int]] = {
    ("GET", "ping"): (LoopbackApi.ping, False, 1),
    ("GET", "time"): (LoopbackApi.time, False, 1),
    ("GET", "exchangeInfo"): (LoopbackApi.exchange_info, False, 20),
    ("GET", "depth"): (LoopbackApi.depth, False, 5),
    ("GET", "avgPrice"): (LoopbackApi.avg_price, False, 2),
    ("GET", "trades"): (LoopbackApi.trades, False, 25),
    ("GET", "klines"): (LoopbackApi.klines, False, 2),
    ("POST", "order"): (LoopbackApi.new_order, True, 1),
    ("GET", "order"): (LoopbackApi.get_order, True, 4),
    ("DELETE", "order"): (LoopbackApi.cancel_order, True, 1),
    ("GET", "openOrders"): (LoopbackApi.open_orders, True, 6),
    ("DELETE", "openOrders"): (LoopbackApi.cancel_open_orders, True, 1),
    ("GET", "account"): (LoopbackApi.account, True, 20),
    ("GET", "myTrades"): (LoopbackApi.my_trades, True, 20),
}
