"""The loopback server's market: the simulator's KRX stocks as Kiwoom ``0B`` / ``0D`` items.

The simulator (:mod:`engine.sim.market`) drives one book per stock; this module mirrors those books,
keeps the day's cumulative volume, and words every trade and every changed book the way Kiwoom's
realtime server does (signed-string prices relative to the base price, FID maps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.rules import PriceLimits, daily_limits


@dataclass(slots=True)
class StockState:
    """One simulated stock as the venue knows it."""

    code: str
    name: str
    limits: PriceLimits
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    cum_volume: int = 0
    last_price: int = 0
    open_price: int = 0
    high_price: int = 0
    low_price: int = 0
    book_changed: bool = False
    trades: list[tuple[int, int, int, int]] = field(default_factory=list)
    """Recent trades ``(ts_ns, price, signed_volume, cum_volume)``, newest last (bounded)."""

    def top(self, side: int, depth: int = wire.BOOK_LEVELS) -> list[tuple[int, int]]:
        if side == BID:
            return sorted(self.bids.items(), reverse=True)[:depth]
        return sorted(self.asks.items())[:depth]


RECENT_TRADES = 500


class LoopbackMarket:
    """Steps the simulator and turns its events into Kiwoom realtime items."""

    def __init__(self, codes: list[str], *, seed: int, rate: float, start_ns: int) -> None:
        instruments = [sim_instrument(code) for code in codes]
        self.simulator = MarketSimulator(
            instruments, list(range(len(codes))), seed=seed, rate=rate, start_ns=start_ns
        )
        self.stocks: list[StockState] = []
        for position, (code, instrument) in enumerate(zip(codes, instruments, strict=True)):
            base = self.simulator.prev_close_raw(position)
            self.stocks.append(StockState(code, instrument.name, daily_limits(base)))
        self.by_code = {stock.code: stock for stock in self.stocks}
        self._batch = MarketBatch()
        self.simulator.snapshot(self._batch)
        self._apply(self._batch, [])
        self._batch.clear()

    def step(self, until_ns: int) -> list[wire.RealItem]:
        """Advance to ``until_ns``: a ``0B`` item per trade, then a ``0D`` per changed book."""
        batch = self._batch
        self.simulator.step(until_ns, batch)
        items: list[wire.RealItem] = []
        self._apply(batch, items)
        batch.clear()
        hhmmss = wire.kst_text(until_ns, "%H%M%S")
        for stock in self.stocks:
            if stock.book_changed:
                stock.book_changed = False
                items.append(self.book_item(stock, hhmmss))
        return items

    def book_item(self, stock: StockState, hhmmss: str) -> wire.RealItem:
        base = stock.limits.base
        values = {wire.FID_BOOK_TIME: hhmmss}
        for level, (price, size) in enumerate(stock.top(ASK)):
            values[wire.ASK_PRICE_FIDS[level]] = signed_price(price, base)
            values[wire.ASK_SIZE_FIDS[level]] = str(size)
        for level, (price, size) in enumerate(stock.top(BID)):
            values[wire.BID_PRICE_FIDS[level]] = signed_price(price, base)
            values[wire.BID_SIZE_FIDS[level]] = str(size)
        values["121"] = str(sum(stock.asks.values()))
        values["125"] = str(sum(stock.bids.values()))
        values["23"] = values["24"] = "0"
        values["215"] = "2"
        return wire.RealItem(
            type=wire.REAL_BOOK, item=stock.code, values=values, name="주식호가잔량"
        )

    def _apply(self, batch: MarketBatch, items: list[wire.RealItem]) -> None:
        stocks = self.stocks
        for kind, position, side, price, size, ts in zip(
            batch.kind,
            batch.instrument,
            batch.side,
            batch.price,
            batch.size,
            batch.ts_event,
            strict=True,
        ):
            stock = stocks[position]
            if kind == BOOK_LEVEL:
                levels = stock.bids if side == BID else stock.asks
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
                stock.book_changed = True
            elif kind == BOOK_CLEAR:
                stock.bids.clear()
                stock.asks.clear()
                stock.book_changed = True
            elif kind == TRADE:
                items.append(self._trade_item(stock, side, price, size, ts))

    def _trade_item(
        self, stock: StockState, side: int, price: int, size: int, ts: int
    ) -> wire.RealItem:
        stock.cum_volume += size
        stock.last_price = price
        stock.open_price = stock.open_price or price
        stock.high_price = max(stock.high_price, price)
        stock.low_price = min(stock.low_price or price, price)
        signed = size if side == BID else -size
        stock.trades.append((ts, price, signed, stock.cum_volume))
        if len(stock.trades) > RECENT_TRADES:
            del stock.trades[: RECENT_TRADES // 2]
        base = stock.limits.base
        best_ask = min(stock.asks, default=0)
        best_bid = max(stock.bids, default=0)
        values = {
            wire.FID_TIME: wire.kst_text(ts, "%H%M%S"),
            wire.FID_PRICE: signed_price(price, base),
            "11": f"{price - base:+d}",
            "12": f"{(price - base) * 100 / base:+.2f}",
            wire.FID_BEST_ASK: signed_price(best_ask, base),
            wire.FID_BEST_BID: signed_price(best_bid, base),
            wire.FID_VOLUME: f"{signed:+d}",
            wire.FID_CUM_VOLUME: str(stock.cum_volume),
            "14": str(stock.cum_volume * price // 1_000_000),
            "16": signed_price(stock.open_price, base),
            "17": signed_price(stock.high_price, base),
            "18": signed_price(stock.low_price, base),
            "25": "2" if price > base else "5" if price < base else "3",
            "290": "2",
        }
        return wire.RealItem(type=wire.REAL_TRADE, item=stock.code, values=values, name="주식체결")


def signed_price(price: int, base: int) -> str:
    """Kiwoom's price words: ``+`` above the base price, ``-`` below, bare when equal."""
    if price > base:
        return f"+{price}"
    if price < base and price:
        return f"-{price}"
    return str(price)
