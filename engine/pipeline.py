"""The tick pipeline: the one path every market batch takes, live, on paper and in a backtest.

::

    MarketState.apply → paper exchange (fills against the new events) → strategies → Oms.pump

The node drives it from the simulator or a venue feed, the backtester from recorded part files;
both cut the source where an order falls due on the paper exchange, so an order meets the book
exactly as of its due time in both. That shared order of operations is what makes a paper run
and a backtest on the same ticks agree to the unit.

A backtest hands the batches it can to :mod:`engine.backtest.hot_loop` (while nothing waits on
the paper exchange and the strategies want only ``on_trade``): the same steps in the same order,
read straight from the replay's columns, held equal to this path by ``tests/test_hot_loop.py``.

The strategies are one stage (:class:`MarketStage`, in practice
:class:`~engine.strategy.runner.StrategyRunner`): the pipeline conducts the market state, the
exchange and the OMS whether or not a strategy is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from engine.domain.market_data import MarketBatch
from engine.oms.oms import Oms


class BatchClock:
    """Engine time of the batch being processed: what strategies read as ``now``.

    It never goes back: a batch stamped earlier than one already processed (two sources of
    different latency) keeps the later time. Calling it returns the time in ns.
    """

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


class MarketStage(Protocol):
    """A stage that sees each batch after the market state and the exchange have taken it."""

    def dispatch(self, batch: MarketBatch, now_ns: int) -> None:
        """React to ``batch`` (already applied to the market state) at ``now_ns``."""
        ...


class TickPipeline:
    """Market state → paper exchange → ``stage`` → OMS pump, for one OMS and its market.

    ``time`` is shared with the stage when it keeps its own (the strategy runner's contexts read
    it); by default the pipeline keeps one. The stage is fixed for the pipeline's life (its
    ``dispatch`` is bound once, like the market's ``apply`` and the OMS's ``pump``).
    """

    __slots__ = ("_apply", "_dispatch", "_pump", "exchange", "market", "oms", "stage", "time")

    def __init__(
        self, oms: Oms, stage: MarketStage | None = None, time: BatchClock | None = None
    ) -> None:
        self.oms = oms
        self.market = oms.market
        self.exchange = oms.exchange
        self.stage = stage
        self.time = time if time is not None else BatchClock(0)
        # Bound once: three attribute lookups fewer per batch.
        self._apply = oms.market.apply
        self._dispatch = stage.dispatch if stage is not None else None
        self._pump = oms.pump

    @property
    def now_ns(self) -> int:
        """Time of the batch (or venue step) being processed."""
        return self.time.ns

    def process_batch(self, batch: MarketBatch, now_ns: int) -> None:
        """Everything one market batch does, in the one order live, paper and backtest share.

        ``now_ns`` is the batch's arrival time (what the recorder stores as ``ts_init``). An
        empty batch only runs the venue (``Oms.pump``): a quiet step changes nothing else, so a
        recording (which has no empty batches) replays to the same result.
        """
        time = self.time
        if now_ns > time.ns:  # noqa: PLR1730 (a branch beats max() per batch)
            time.ns = now_ns
        if batch.kind:
            self._apply(batch, now_ns)  # now_ns: received (staleness)
            exchange = self.exchange
            if exchange.has_work:  # a plain attribute on the paper exchange
                exchange.on_batch(batch)
            dispatch = self._dispatch
            if dispatch is not None:
                dispatch(batch, now_ns)
        self._pump(now_ns)

    def pump(self, now_ns: int) -> None:
        """Run the venue at ``now_ns`` with no market events (an order falling due)."""
        time = self.time
        if now_ns > time.ns:  # noqa: PLR1730
            time.ns = now_ns
        self._pump(now_ns)

    def step_source(
        self, step: Callable[[int, MarketBatch], object], batch: MarketBatch, now_ns: int
    ) -> None:
        """Drive a market source up to ``now_ns`` (the node's loop over the simulator).

        ``step(until_ns, batch)`` appends the source's events up to ``until_ns``. The source is
        cut at each time an order falls due on the paper exchange, so the order meets the book
        exactly as of its due time, as in a backtest (see :mod:`engine.backtest.replay`).
        Call with an empty ``batch``; it is left empty.
        """
        exchange = self.exchange
        due = exchange.next_due_ns
        while due is not None and due < now_ns:
            step(due, batch)
            self.process_batch(batch, due)
            batch.clear()
            due = exchange.next_due_ns
        step(now_ns, batch)
        self.process_batch(batch, now_ns)
        batch.clear()
