"""The loopback server's matching engine and account: Binance spot order rules and replies.

Orders are checked the way Binance checks them (protocols.md §B.2, §B.4): mandatory parameters
(``-1102``), symbol (``-1121``), precision (``-1111``), filters (``-1013 Filter failure:
PRICE_FILTER | LOT_SIZE | MARKET_LOT_SIZE | NOTIONAL``), balance and duplicates (``-2010``). A
marketable order takes the simulator's liquidity level by level (taker); a GTC remainder rests in
the published book and fills as the simulated market trades through it (maker). IOC and market
remainders end ``EXPIRED``; FOK fills entirely or expires. Commission: 0.1 % of the asset received
(so a buy is credited its quantity less the commission, in the base asset), or, after
:meth:`LoopbackExchange.pay_fees_in` ``("BNB", …)`` and while the account holds BNB, 0.1 % x 0.75
(Binance's BNB discount) of the quote value, in BNB at a fixed BNB price. All amounts are e8
integers (:mod:`engine.venues.binance.loopback_market`).
"""

from __future__ import annotations

from decimal import Decimal

from engine.domain.market_data import ASK, BID
from engine.venues.binance.loopback_filters import FilterRules, broken_filter
from engine.venues.binance.loopback_market import E8, LoopbackMarket, PublicTrade
from engine.venues.binance.loopback_orders import BinanceError, Fill, LoopbackOrder, e8_param

COMMISSION_PPM = 1000
"""0.1 % standard spot commission, in parts per million."""
BNB_COMMISSION_PPM = 750
"""The standard commission times Binance's BNB discount multiplier (0.75), paying in BNB."""
FILTER_MAX_QTY = 9_000 * E8
FILTER_MAX_PRICE = 1_000_000 * E8


class LoopbackExchange:
    """Orders, fills and balances of the one account the loopback server serves."""

    def __init__(self, market: LoopbackMarket, balances: dict[str, str]) -> None:
        self.market = market
        self.balances: dict[str, list[int]] = {
            asset: [int(Decimal(amount).scaleb(8)), 0] for asset, amount in balances.items()
        }
        self.orders: dict[int, LoopbackOrder] = {}
        self.new_trades: list[tuple[str, PublicTrade]] = []
        """Public trades the server's own fills printed, for the trade streams."""
        self._by_client: dict[tuple[str, str], LoopbackOrder] = {}
        self._next_order_id = 48_217_735_000
        self._fee_asset = ""
        self._fee_asset_price = 0
        self.rules = FilterRules()
        """PERCENT_PRICE_BY_SIDE, MARKET_LOT_SIZE, NOTIONAL and MAX_NUM_ORDERS (tests tighten)."""
        self.hold_cancels = False
        """While set, a cancel leaves the order ``PENDING_CANCEL`` (a fault: Binance documents the
        status as unused) until :meth:`release_cancels`; it may still fill meanwhile."""

    def pay_fees_in(self, asset: str, bnb_price_usdt: Decimal) -> None:
        """Charge commissions in ``asset`` (BNB) while the account holds it, at that price."""
        self._fee_asset = asset
        self._fee_asset_price = int(bnb_price_usdt.scaleb(8))

    # --- requests -----------------------------------------------------------------------------

    def place(self, params: dict[str, str], now_ms: int) -> LoopbackOrder:
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise _missing(name)
        symbol = params["symbol"]
        book = self.market.books.get(symbol)
        if book is None:
            raise BinanceError(-1121, "Invalid symbol.")
        side, kind = params["side"], params["type"]
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if kind not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce", "")
        if kind == "LIMIT" and not tif:
            raise _missing("timeInForce")
        if kind != "LIMIT" and tif:
            raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        if tif and tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
        if not params.get("quantity"):
            raise _missing("quantity")
        qty = e8_param(params, "quantity")
        price = 0
        if kind != "MARKET":
            if not params.get("price"):
                raise _missing("price")
            price = e8_param(params, "price")
        client_id = params.get("newClientOrderId") or f"loopback-{self._next_order_id + 1}"
        existing = self._by_client.get((symbol, client_id))
        if existing is not None and existing.is_open:
            raise BinanceError(-2010, "Duplicate order sent.")
        self._check_filters(symbol, side, kind, price, qty)
        broken = broken_filter(
            self.rules,
            book,
            buy=side == "BUY",
            market=kind == "MARKET",
            price=price,
            qty=qty,
            open_orders=len(self.open_orders(symbol)),
            now_ms=now_ms,
        )
        if broken is not None:
            raise BinanceError(-1013, f"Filter failure: {broken}")
        self._check_balance(symbol, side, kind, price, qty)
        if kind == "LIMIT_MAKER" and self._crosses(symbol, side, price):
            raise BinanceError(-2010, "Order would immediately match and take.")
        self._next_order_id += 1
        order = LoopbackOrder(
            order_id=self._next_order_id,
            client_order_id=client_id,
            symbol=symbol,
            side=side,
            type=kind,
            time_in_force=tif or "GTC",
            price=price,
            orig_qty=qty,
            time_ms=now_ms,
        )
        self.orders[order.order_id] = order
        self._by_client[(symbol, client_id)] = order
        self._execute(order, now_ms)
        return order

    def find(self, params: dict[str, str], unknown: BinanceError) -> LoopbackOrder:
        if not params.get("symbol"):
            raise _missing("symbol")
        order: LoopbackOrder | None = None
        if params.get("orderId"):
            if not params["orderId"].isdigit():
                raise BinanceError(-1100, "Illegal characters found in parameter 'orderId'.")
            order = self.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = self._by_client.get((params["symbol"], params["origClientOrderId"]))
        else:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.symbol != params["symbol"]:
            raise unknown
        return order

    def cancel(self, params: dict[str, str], now_ms: int) -> LoopbackOrder:
        order = self.find(params, BinanceError(-2011, "Unknown order sent."))
        if not order.is_open or order.status == "PENDING_CANCEL":
            raise BinanceError(-2011, "Unknown order sent.")
        if self.hold_cancels:
            order.status = "PENDING_CANCEL"
            order.update_ms = now_ms
            return order
        self._unrest(order)
        order.status = "CANCELED"
        order.update_ms = now_ms
        return order

    def release_cancels(self, now_ms: int) -> None:
        """Carry out the cancels held in ``PENDING_CANCEL``."""
        self.hold_cancels = False
        for order in self.orders.values():
            if order.status == "PENDING_CANCEL":
                self._unrest(order)
                order.status = "CANCELED"
                order.update_ms = now_ms

    def open_orders(self, symbol: str | None) -> list[LoopbackOrder]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    # --- checks -------------------------------------------------------------------------------

    def _check_filters(self, symbol: str, side: str, kind: str, price: int, qty: int) -> None:
        book = self.market.books[symbol]
        tick, step = book.profile.tick_e8, book.profile.step_e8
        if kind != "MARKET" and (price < tick or price > FILTER_MAX_PRICE or price % tick):
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        lot_filter = "MARKET_LOT_SIZE" if kind == "MARKET" else "LOT_SIZE"
        if qty < step or (kind != "MARKET" and qty > FILTER_MAX_QTY) or qty % step:
            raise BinanceError(-1013, f"Filter failure: {lot_filter}")
        reference = price
        if kind == "MARKET":  # the notional of a market order is taken at the touch
            touch = book.sim_levels(ASK if side == "BUY" else BID)
            reference = touch[0][0] if touch else 0
        if reference * qty < book.profile.min_notional_e8 * E8:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")

    def _check_balance(self, symbol: str, side: str, kind: str, price: int, qty: int) -> None:
        profile = self.market.books[symbol].profile
        if side == "BUY":
            cost = price * qty // E8 if kind != "MARKET" else self._market_cost(symbol, qty)
            if self._free(profile.quote) < cost:
                raise BinanceError(-2010, "Account has insufficient balance for requested action.")
        elif self._free(profile.base) < qty:
            raise BinanceError(-2010, "Account has insufficient balance for requested action.")

    def _market_cost(self, symbol: str, qty: int) -> int:
        cost, left = 0, qty
        for price, size in self.market.books[symbol].sim_levels(ASK):
            take = min(size, left)
            cost += price * take // E8
            left -= take
            if not left:
                break
        return cost

    def _free(self, asset: str) -> int:
        return self.balances.get(asset, [0, 0])[0]

    def _crosses(self, symbol: str, side: str, price: int) -> bool:
        book = self.market.books[symbol]
        opposite = book.sim_levels(ASK if side == "BUY" else BID)
        if not opposite:
            return False
        best = opposite[0][0]
        return price >= best if side == "BUY" else price <= best

    # --- matching -----------------------------------------------------------------------------

    def _execute(self, order: LoopbackOrder, now_ms: int) -> None:
        book = self.market.books[order.symbol]
        side = ASK if order.side == "BUY" else BID
        limit = order.price if order.type != "MARKET" else None
        available = [
            (price, size)
            for price, size in book.sim_levels(side)
            if limit is None or (price <= limit if side == ASK else price >= limit)
        ]
        if order.time_in_force == "FOK" and sum(size for _, size in available) < order.orig_qty:
            order.status = "EXPIRED"
            order.update_ms = now_ms
            return
        for price, size in available:
            if not order.remaining:
                break
            take = min(size, order.remaining)
            book.set_sim(side, price, size - take)
            self._fill(order, price, take, now_ms, is_maker=False)
        if not order.remaining:
            return
        if order.type == "MARKET" or order.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
            order.update_ms = now_ms
            return
        self._rest(order)

    def _rest(self, order: LoopbackOrder) -> None:
        book = self.market.books[order.symbol]
        book.add_own(BID if order.side == "BUY" else ASK, order.price, order.remaining)
        asset, amount = self._locked_for(order, order.remaining)
        balance = self.balances.setdefault(asset, [0, 0])
        balance[0] -= amount
        balance[1] += amount

    def _unrest(self, order: LoopbackOrder) -> None:
        book = self.market.books[order.symbol]
        book.add_own(BID if order.side == "BUY" else ASK, order.price, -order.remaining)
        asset, amount = self._locked_for(order, order.remaining)
        balance = self.balances[asset]
        balance[0] += amount
        balance[1] -= amount

    def _locked_for(self, order: LoopbackOrder, qty: int) -> tuple[str, int]:
        profile = self.market.books[order.symbol].profile
        if order.side == "BUY":
            return profile.quote, order.price * qty // E8
        return profile.base, qty

    def _fill(
        self, order: LoopbackOrder, price: int, qty: int, now_ms: int, is_maker: bool
    ) -> None:
        profile = self.market.books[order.symbol].profile
        notional = price * qty // E8
        if is_maker:  # a resting order: its locked funds pay for the fill
            self._unrest_part(order, qty)
        if self._fee_asset and self._free(self._fee_asset) > 0:
            asset = self._fee_asset
            commission = -(
                -notional * BNB_COMMISSION_PPM * E8 // 1_000_000 // self._fee_asset_price
            )
            self._add(asset, -commission)
            base_fee = quote_fee = 0
        elif order.side == "BUY":
            commission, asset = -(-qty * COMMISSION_PPM // 1_000_000), profile.base
            base_fee, quote_fee = commission, 0
        else:
            commission, asset = -(-notional * COMMISSION_PPM // 1_000_000), profile.quote
            base_fee, quote_fee = 0, commission
        if order.side == "BUY":
            self._add(profile.quote, -notional)
            self._add(profile.base, qty - base_fee)
        else:
            self._add(profile.base, -qty)
            self._add(profile.quote, notional - quote_fee)
        buyer_is_maker = (order.side == "BUY") == is_maker
        trade = self.market.record_trade(order.symbol, price, qty, now_ms, buyer_is_maker)
        order.fills.append(Fill(trade.trade_id, price, qty, commission, asset, now_ms, is_maker))
        order.executed += qty
        order.quote += notional
        order.update_ms = now_ms
        if not order.remaining:
            order.status = "FILLED"
        elif order.status != "PENDING_CANCEL":
            order.status = "PARTIALLY_FILLED"
        self.new_trades.append((order.symbol, trade))

    def _unrest_part(self, order: LoopbackOrder, qty: int) -> None:
        book = self.market.books[order.symbol]
        book.add_own(BID if order.side == "BUY" else ASK, order.price, -qty)
        asset, amount = self._locked_for(order, qty)
        balance = self.balances[asset]
        balance[0] += amount
        balance[1] -= amount

    def _add(self, asset: str, amount: int) -> None:
        self.balances.setdefault(asset, [0, 0])[0] += amount

    def match_resting(self, trades: list[tuple[str, PublicTrade]], now_ms: int) -> None:
        """Let the simulated market trade through resting orders (they fill as makers)."""
        for symbol, trade in trades:
            for order in self.open_orders(symbol):
                if order.is_open and _trades_through(order, trade):
                    self._fill(order, order.price, min(order.remaining, trade.qty), now_ms, True)
        for order in self.open_orders(None):
            book = self.market.books[order.symbol]
            side = ASK if order.side == "BUY" else BID
            for price, size in book.sim_levels(side):
                crossed = price <= order.price if side == ASK else price >= order.price
                if not crossed or not order.is_open:
                    break
                take = min(size, order.remaining)
                book.set_sim(side, price, size - take)
                self._fill(order, order.price, take, now_ms, True)


def _trades_through(order: LoopbackOrder, trade: PublicTrade) -> bool:
    if order.side == "BUY":
        return trade.buyer_is_maker and trade.price <= order.price
    return not trade.buyer_is_maker and trade.price >= order.price


def _missing(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )
