"""Strategies on the in-process trading desk: a scripted market through the real runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import Order
from engine.strategy.loader import load_strategy_class
from engine.strategy.runner import StrategyRunner
from tests.support.trading import BTC, MS, Desk, desk_settings, open_desk

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"


class StrategyDesk:
    """A :class:`Desk` with a :class:`StrategyRunner`; every event is one batch, 1 ms apart."""

    def __init__(self, tmp_path: Path, **risk: Any) -> None:
        self.desk: Desk = open_desk(desk_settings(tmp_path, **risk))
        self.runner = StrategyRunner(self.desk.oms, self.desk.clock)
        self.index = self.desk.market.index_of(BTC)  # type: ignore[arg-type]

    def add_template(self, file: str, strategy_id: str = "s", **params: Any) -> str:
        cls = load_strategy_class(STRATEGIES / file)
        return self.runner.add(cls, params, [BTC], strategy_id=strategy_id)

    def step(self, *events: tuple[int, int, int, int], ms: float = 1.0) -> None:
        """Advance the clock, then one batch of (kind, side, price, size) events on BTC."""
        clock = self.desk.clock
        clock.advance(int(ms * MS))
        now = clock.now_ns()
        batch = MarketBatch()
        for kind, side, price, size in events:
            batch.append(kind, self.index, side, price, size, now)
        self.runner.process_batch(batch, now)

    def trade(self, aggressor: int, price: int, size: int = 1_000_000, ms: float = 1.0) -> None:
        self.step((TRADE, aggressor, price, size), ms=ms)

    def book(self, bid: int, ask: int, bid_size: int, ask_size: int, levels: int = 5) -> None:
        """Restate ``levels`` levels a side, 1,000 apart, at the given sizes."""
        events = []
        for n in range(levels):
            events.append((BOOK_LEVEL, BID, bid - n * 1_000, bid_size))
            events.append((BOOK_LEVEL, ASK, ask + n * 1_000, ask_size))
        self.step(*events)

    def settle(self, ms: float = 50.0) -> None:
        """Let order latency pass (orders reach the paper book, fills come back)."""
        self.step(ms=ms)

    def orders(self, strategy_id: str = "s") -> list[Order]:
        return [o for o in self.desk.oms.orders.values() if o.strategy_id == strategy_id]

    def position(self, strategy_id: str = "s") -> int:
        return self.runner.context(strategy_id).position(self.index)

    def close(self) -> None:
        self.desk.close()
