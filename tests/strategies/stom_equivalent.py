"""The logic of ``stom/buy.txt`` and ``stom/sell.txt`` written in the strategy API, on the same
feature library: the tests check both give the same fills."""

from engine.features.stom_rows import StomRows
from engine.strategy.api import Param, Side, Strategy, StrategyFill

STOCK_SELL_TAX = 0.0018


class StomEquivalent(Strategy):
    """Buy on strong buying above the 20-row average; sell at ±var2 % or a weak 90 s hold."""

    betting = Param(1_000_000.0, low=1.0, high=1e12)
    avg_ticks = Param(30, low=1, high=10_000, step=1)
    var1 = Param(100.0, low=50.0, high=150.0, step=25.0)
    var2 = Param(0.5, low=0.25, high=2.0, step=0.25)

    def on_start(self) -> None:
        self.rows: dict[int, StomRows] = {}
        self.entry: dict[int, tuple[float, float, int]] = {}

    def _rows(self, i: int) -> StomRows:
        if i not in self.rows:
            ins = self.ctx.instrument(i)
            market = "stock" if ins.kind == "stock" else "coin"
            self.rows[i] = StomRows(market, 10**ins.price_precision, 10**ins.size_precision)
        return self.rows[i]

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self._rows(i).trade(price, size, side == Side.BUY, ts)

    def on_fill(self, fill: StrategyFill) -> None:
        ins = self.ctx.instrument(fill.i)
        if self.ctx.position(fill.i) > 0:
            qty = self.ctx.position(fill.i) / 10**ins.size_precision
            self.entry[fill.i] = (qty, fill.price / 10**ins.price_precision, fill.ts)
        else:
            self.entry.pop(fill.i, None)

    def on_book(self, i: int, ts: int) -> None:
        rows = self._rows(i)
        if not rows.book(self.ctx.top_asks(i, 5), self.ctx.top_bids(i, 5), ts):
            return
        if self.ctx.open_orders(i):
            return
        price = rows.value("현재가")
        if self.ctx.position(i) <= 0:
            if rows.length < self.avg_ticks:
                return
            if (
                rows.window("체결강도평균", 10) > self.var1
                and price > rows.window("이동평균", 20)
                and rows.window("누적초당매수수량", 5) > rows.window("누적초당매도수량", 5)
            ):
                qty = int(self.betting // price)
                if qty > 0:
                    self.ctx.buy(i, qty)
            return
        qty, entry, entry_ts = self.entry[i]
        fee = float(self.ctx.instrument(i).taker_fee)
        bought, sold = qty * entry, qty * price
        pnl = sold - bought - (bought + sold) * fee - sold * STOCK_SELL_TAX
        rate = round(pnl / bought * 100, 2)
        held_s = (rows.times[-1] - entry_ts) // 1_000_000_000
        if (
            rate >= self.var2
            or rate <= -self.var2
            or (held_s > 90 and price < rows.window("이동평균", 10))
        ):
            self.ctx.close_position(i)
