"""What a backtest run is asked to do, and what it reports (both plain, JSON-safe structs: they
cross the worker-process boundary, the bus and the results folder)."""

from __future__ import annotations

import msgspec

from engine.backtest.metrics import Metrics, TradeStats


class BacktestRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One backtest: a strategy file over recorded ticks."""

    strategy_file: str
    """Path of the strategy's ``.py`` file."""
    data_dir: str
    """The tick store's root (``<data.dir>/ticks`` by default)."""
    results_dir: str
    """Where results are stored (``<data.dir>/backtests`` by default)."""
    strategy_class: str | None = None
    """The class to run when the file defines several."""
    params: dict[str, bool | int | float | str] = msgspec.field(default_factory=dict)
    instruments: list[str] = msgspec.field(default_factory=list)
    """Instrument ids to replay and trade (empty: the strategy's own, else every recorded one)."""
    start: str | None = None
    """First day ``YYYY-MM-DD`` (inclusive) or date-time ``YYYY-MM-DDTHH:MM[:SS]`` in ``tz``;
    None: the first recorded day (see :mod:`engine.backtest.time_range`)."""
    end: str | None = None
    """Last day (inclusive) or date-time (exclusive) in ``tz``; None: the last recorded day."""
    tz: str = "UTC"
    """The IANA zone ``start`` and ``end`` are read in (an offset in the text wins)."""
    max_order_notional: str | None = None
    """The strategy's own budget (quote currency); None: only the engine's risk limits."""
    max_position_notional: str | None = None
    equity_interval_s: float = 60.0
    """Equity curve sampling interval in replay time (doubles if the curve grows too long)."""
    result_id: str | None = None
    """Name of the result folder (default: time, strategy and a short hash)."""


class BacktestSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one run (``summary.json`` in its folder)."""

    id: str
    strategy: str
    strategy_file: str
    params: dict[str, bool | int | float | str]
    instruments: list[str]
    start: str | None
    end: str | None
    first_event_ns: int
    last_event_ns: int
    currency: str
    initial_equity: str
    final_equity: str
    pnl: str
    """Final equity minus initial: realized - fees + unrealized at the last mid (exact)."""
    fees: str
    open_position: dict[str, str]
    """Positions still open at the end (instrument -> size), valued at the last mid."""
    metrics: Metrics
    trade_stats: TradeStats
    buy_and_hold: Metrics
    orders: int
    denied: int
    fills: int
    ticks: int
    """Market events replayed (book updates and trades)."""
    batches: int
    wall_s: float
    ticks_per_s: float
    created_ns: int
    """Wall time the result was written (metadata; replay time is in the event fields)."""
    strategy_state: str
    """``running``, or ``failed: file:line ...`` when the strategy raised."""
