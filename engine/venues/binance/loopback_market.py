"""The loopback server's market: simulator books and trades, as Binance would publish them.

Each Binance symbol is driven by a simulator profile (``BTCUSDT`` by ``KRW-BTC`` …) with prices
scaled from KRW to USDT (÷ 1,000: KRW-BTC at 100,000,000 is BTCUSDT at 100,000.00) and sizes on
the symbol's ``stepSize``. Everything inside is integer "e8" units, Binance's 8 wire decimals.

The published book of a symbol is the simulator's liquidity plus the resting orders placed
through the server (:mod:`engine.venues.binance.loopback_exchange`). Every batch of level changes
becomes one ``depthUpdate`` whose ids ``[U; u]`` continue the previous one, and the REST snapshot
carries the ``lastUpdateId`` of the last change, as the official book procedure expects
(protocols.md §B.7).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from engine.domain.fixed_point import format_raw, to_raw
from engine.domain.ids import InstrumentId
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator

E8 = 100_000_000
KRW_PER_QUOTE = 1000
TRADE_HISTORY = 100_000
"""Trades kept per symbol for ``/api/v3/trades`` and ``/api/v3/klines``."""


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """A Binance symbol the loopback can trade, and the simulator profile that drives it."""

    symbol: str
    sim_symbol: str
    base: str
    quote: str
    tick: str
    step: str
    min_notional: str = "5"

    @property
    def tick_e8(self) -> int:
        return to_raw(self.tick, 8)

    @property
    def step_e8(self) -> int:
        return to_raw(self.step, 8)

    @property
    def min_notional_e8(self) -> int:
        return to_raw(self.min_notional, 8)


PROFILES: dict[str, SymbolProfile] = {
    profile.symbol: profile
    for profile in (
        SymbolProfile("BTCUSDT", "KRW-BTC", "BTC", "USDT", "0.01", "0.00001"),
        SymbolProfile("ETHUSDT", "KRW-ETH", "ETH", "USDT", "0.01", "0.0001"),
        SymbolProfile("SOLUSDT", "KRW-SOL", "SOL", "USDT", "0.01", "0.001"),
        SymbolProfile("XRPUSDT", "KRW-XRP", "XRP", "USDT", "0.0001", "0.1"),
        SymbolProfile("DOGEUSDT", "KRW-DOGE", "DOGE", "USDT", "0.00001", "1"),
    )
}


def e8_text(value: int) -> str:
    """Binance's 8-decimal text: ``11322455000000 -> "113224.55000000"``."""
    return format_raw(value, 8)


@dataclass(slots=True)
class PublicTrade:
    trade_id: int
    price: int
    qty: int
    time_ms: int
    buyer_is_maker: bool


@dataclass(slots=True)
class SymbolBook:
    """One symbol's liquidity: the simulator's, the server's own resting orders, what is public."""

    profile: SymbolProfile
    sim: list[dict[int, int]] = dataclasses.field(default_factory=lambda: [{}, {}])
    own: list[dict[int, int]] = dataclasses.field(default_factory=lambda: [{}, {}])
    published: list[dict[int, int]] = dataclasses.field(default_factory=lambda: [{}, {}])
    changed: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    update_id: int = 1_000_000
    trades: deque[PublicTrade] = dataclasses.field(
        default_factory=lambda: deque(maxlen=TRADE_HISTORY)
    )

    def levels(self, side: int, depth: int | None = None) -> list[tuple[int, int]]:
        """Published levels from the touch outwards."""
        book = self.published[side]
        prices = sorted(book, reverse=side == BID)
        return [(price, book[price]) for price in prices[:depth]]

    def sim_levels(self, side: int) -> list[tuple[int, int]]:
        book = self.sim[side]
        return [(price, book[price]) for price in sorted(book, reverse=side == BID)]

    def set_sim(self, side: int, price: int, qty: int) -> None:
        if qty:
            self.sim[side][price] = qty
        else:
            self.sim[side].pop(price, None)
        self.changed.add((side, price))

    def add_own(self, side: int, price: int, delta: int) -> None:
        own = self.own[side]
        qty = own.get(price, 0) + delta
        if qty:
            own[price] = qty
        else:
            own.pop(price, None)
        self.changed.add((side, price))


class LoopbackMarket:
    """Simulator-driven books and trades for Binance symbols, in e8 units."""

    def __init__(self, symbols: list[str], *, seed: int, rate: float, start_ms: int) -> None:
        unknown = [symbol for symbol in symbols if symbol not in PROFILES]
        if unknown:
            raise ValueError(
                f"the Binance loopback cannot simulate {unknown}; known: {', '.join(PROFILES)}"
            )
        self.books = {symbol: SymbolBook(PROFILES[symbol]) for symbol in symbols}
        instruments = []
        self._scale: list[int] = []
        for symbol in symbols:
            profile = PROFILES[symbol]
            base = sim_instrument(profile.sim_symbol)
            instruments.append(
                dataclasses.replace(
                    base,
                    id=InstrumentId.of(profile.sim_symbol, "SIM"),
                    lot_size_raw=profile.step_e8 * 10 ** (base.size_precision - 8),
                )
            )
            self._scale.append(10 ** (8 - base.price_precision))
        self._symbols = list(symbols)
        self.sim = MarketSimulator(
            instruments,
            list(range(len(symbols))),
            seed=seed,
            rate=rate,
            book_depth=20,
            start_ns=start_ms * 1_000_000,
        )
        self._next_trade_id = 5_000_000
        self._batch = MarketBatch()
        self.sim.snapshot(self._batch)
        self._absorb(start_ms)
        self.drain_changes()  # the opening book is the base every snapshot builds on

    def next_trade_id(self) -> int:
        self._next_trade_id += 1
        return self._next_trade_id

    def advance(self, now_ms: int) -> list[tuple[str, PublicTrade]]:
        """Step the simulator to ``now_ms``; returns the new public trades as (symbol, trade)."""
        self.sim.step(now_ms * 1_000_000, self._batch)
        return self._absorb(now_ms)

    def _absorb(self, now_ms: int) -> list[tuple[str, PublicTrade]]:
        batch = self._batch
        trades: list[tuple[str, PublicTrade]] = []
        books, symbols, scale = self.books, self._symbols, self._scale
        for kind, position, side, price, size, ts in zip(
            batch.kind,
            batch.instrument,
            batch.side,
            batch.price,
            batch.size,
            batch.ts_event,
            strict=True,
        ):
            book = books[symbols[position]]
            price_e8 = price * scale[position] // KRW_PER_QUOTE
            if kind == BOOK_LEVEL:
                book.set_sim(side, price_e8, size)
            elif kind == TRADE:
                trade = PublicTrade(
                    self.next_trade_id(), price_e8, size, ts // 1_000_000, side == ASK
                )
                book.trades.append(trade)
                trades.append((book.profile.symbol, trade))
        batch.clear()
        return trades

    def record_trade(
        self, symbol: str, price: int, qty: int, time_ms: int, buyer_maker: bool
    ) -> PublicTrade:
        trade = PublicTrade(self.next_trade_id(), price, qty, time_ms, buyer_maker)
        self.books[symbol].trades.append(trade)
        return trade

    def drain_changes(
        self, only: str | None = None
    ) -> dict[str, tuple[int, int, list[tuple[int, int, int]]]]:
        """Publish pending level changes: per symbol ``(U, u, [(side, price, qty)])``."""
        updates = {}
        for symbol, book in self.books.items():
            if not book.changed or only not in (None, symbol):
                continue
            changes = []
            for side, price in sorted(book.changed):
                qty = book.sim[side].get(price, 0) + book.own[side].get(price, 0)
                if qty:
                    book.published[side][price] = qty
                elif price in book.published[side]:
                    del book.published[side][price]
                changes.append((side, price, qty))
            book.changed.clear()
            first = book.update_id + 1
            book.update_id += len(changes)
            updates[symbol] = (first, book.update_id, changes)
        return updates

    def change_deepest(self, symbol: str, side: int) -> None:
        """Add one step to the deepest level of ``side`` (published with the next diff)."""
        book = self.books[symbol]
        levels = book.sim_levels(side)
        if levels:
            price, qty = levels[-1]
            book.set_sim(side, price, qty + book.profile.step_e8)
