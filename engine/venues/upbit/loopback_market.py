"""The loopback server's market: the simulator's books and trades as Upbit publishes them.

The :class:`~engine.sim.market.MarketSimulator` drives one book per market on the Upbit KRW grid.
Liquidity taken by orders placed through the loopback is remembered per level ("taken") and
subtracted from what is published until the simulator next changes that level; orders resting
through the loopback are added to the published levels, as on the real venue. Every trade, the
simulator's and the loopback's own fills, is kept (bounded) for ``trades/ticks`` and candles.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator

HISTORY_LIMIT = 200_000
"""Trades kept per market (older ones drop out of ``trades/ticks`` and candles)."""


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One print on the tape (raw units at the market's precisions; ``side`` is the aggressor)."""

    position: int
    ts_ns: int
    price_raw: int
    size_raw: int
    side: int
    sequential_id: int


class LoopbackMarket:
    """Books and tape of the loopback's markets, advanced to a given time by :meth:`advance`."""

    def __init__(self, symbols: list[str], *, seed: int, rate: float, start_ns: int) -> None:
        self.symbols = list(symbols)
        self.position_of = {symbol: position for position, symbol in enumerate(symbols)}
        self.instruments: list[Instrument] = [sim_instrument(symbol) for symbol in symbols]
        self.sim = MarketSimulator(
            self.instruments,
            list(range(len(symbols))),
            seed=seed,
            rate=rate,
            book_depth=30,
            start_ns=start_ns,
        )
        self.tape: list[deque[TradeRecord]] = [deque(maxlen=HISTORY_LIMIT) for _ in symbols]
        self._taken: list[dict[tuple[int, int], int]] = [{} for _ in symbols]
        self.resting: list[dict[tuple[int, int], int]] = [{} for _ in symbols]
        """Size resting through the loopback by (side, price_raw); the exchange keeps it."""
        self._sequence = 0
        self._batch = MarketBatch()
        self._prints: list[TradeRecord] = []

    @property
    def now_ns(self) -> int:
        return self.sim.now_ns

    def prev_close_raw(self, position: int) -> int:
        return self.sim.prev_close_raw(position)

    def advance(self, until_ns: int) -> tuple[set[int], list[TradeRecord]]:
        """Step the simulator; returns the markets whose book changed and the new trades."""
        batch = self._batch
        batch.clear()
        self.sim.step(until_ns, batch)
        changed: set[int] = set()
        trades: list[TradeRecord] = []
        for kind, position, side, price, size, ts in zip(
            batch.kind,
            batch.instrument,
            batch.side,
            batch.price,
            batch.size,
            batch.ts_event,
            strict=True,
        ):
            changed.add(position)
            if kind == BOOK_LEVEL:
                self._taken[position].pop((side, price), None)
            elif kind == TRADE:
                trades.append(self.record_trade(position, ts, price, size, side))
        return changed, trades

    def record_trade(
        self, position: int, ts_ns: int, price_raw: int, size_raw: int, side: int
    ) -> TradeRecord:
        self._sequence += 1
        # Upbit's sequential_id looks like the trade's epoch ms followed by a 4-digit counter.
        sequential_id = (ts_ns // 1_000_000) * 10_000 + self._sequence % 10_000
        record = TradeRecord(position, ts_ns, price_raw, size_raw, side, sequential_id)
        self.tape[position].append(record)
        self._prints.append(record)
        return record

    def drain_prints(self) -> list[TradeRecord]:
        """Every print (simulator's and loopback orders') since the last call, in order."""
        prints, self._prints = self._prints, []
        return prints

    def take(self, position: int, side: int, price_raw: int, size_raw: int) -> None:
        """Liquidity at a level was consumed by a loopback order (hidden until the sim moves it)."""
        key = (side, price_raw)
        self._taken[position][key] = self._taken[position].get(key, 0) + size_raw

    def levels(self, position: int, side: int, depth: int) -> list[tuple[int, int]]:
        """Published ``(price_raw, size_raw)`` of one side from the touch: sim - taken + resting."""
        bids, asks = self.sim.levels(position)
        sim_levels = bids if side == BID else asks
        taken = self._taken[position]
        merged: dict[int, int] = {}
        for price, size in sim_levels:
            left = size - taken.get((side, price), 0)
            if left > 0:
                merged[price] = left
        for (resting_side, price), size in self.resting[position].items():
            if resting_side == side and size > 0:
                merged[price] = merged.get(price, 0) + size
        ordered = sorted(merged.items(), reverse=side == BID)
        return ordered[:depth]

    def sim_levels(self, position: int, side: int) -> list[tuple[int, int]]:
        """Liquidity a loopback order can trade against (the sim's levels minus what was taken)."""
        bids, asks = self.sim.levels(position)
        taken = self._taken[position]
        source = bids if side == BID else asks
        return [
            (price, size - taken.get((side, price), 0))
            for price, size in source
            if size - taken.get((side, price), 0) > 0
        ]

    def best(self, position: int) -> tuple[int, int, int, int]:
        """``(best_bid, bid_size, best_ask, ask_size)`` as published (0 when a side is empty)."""
        bids = self.levels(position, BID, 1)
        asks = self.levels(position, ASK, 1)
        bid = bids[0] if bids else (0, 0)
        ask = asks[0] if asks else (0, 0)
        return bid[0], bid[1], ask[0], ask[1]

    def last_price_raw(self, position: int) -> int:
        tape = self.tape[position]
        if tape:
            return tape[-1].price_raw
        bid, _, ask, _ = self.best(position)
        return (bid + ask) // 2 if bid and ask else self.prev_close_raw(position)

    def price(self, position: int, raw: int) -> Decimal:
        return from_raw(raw, self.instruments[position].price_precision)

    def size(self, position: int, raw: int) -> Decimal:
        return from_raw(raw, self.instruments[position].size_precision)

    def published_book(
        self, symbol: str, depth: int = 30
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The book a snapshot would carry now, as decimals: ``(bids, asks)`` from the touch."""
        position = self.position_of[symbol]
        return tuple(  # type: ignore[return-value]
            [
                (self.price(position, price), self.size(position, size))
                for price, size in self.levels(position, side, depth)
            ]
            for side in (BID, ASK)
        )


ASK_BID = {BID: "BID", ASK: "ASK"}
"""Upbit's ``ask_bid`` of a trade: ``BID`` when the buyer was the aggressor."""
