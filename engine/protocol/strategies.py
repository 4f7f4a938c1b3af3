"""Strategy and backtest payloads: the Strategies pane, its commands, and backtest runs.

Money is exact decimal text in the quote currency; timestamps integer ns UTC; statistics
(returns, ratios) are floats, or null when there is not enough data for them to mean anything.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.protocol.payloads import Payload

StrategyStateText = Literal["enabled", "disabled", "error"]
BacktestStateText = Literal["starting", "running", "done", "failed"]


class ParamInfo(msgspec.Struct, kw_only=True):
    """One declared parameter: its value in use and the range the optimizer searches."""

    name: str
    value: bool | int | float | str
    default: bool | int | float | str
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    doc: str = ""


class StrategyInfo(msgspec.Struct, kw_only=True):
    """One strategy the engine hosts (a row of the Strategies pane)."""

    id: str
    name: str
    """The class name ('' when the file never loaded)."""
    file: str
    """The file, relative to ``[strategies] dir``."""
    instruments: list[str]
    state: StrategyStateText
    error: str | None = None
    """Why it is in ``error``: ``file:line: Type: message`` (a load error or a callback that
    raised). Fixing the file reloads it."""
    params: list[ParamInfo] = []
    currency: str = ""
    """Quote currency of the money fields (the first instrument's)."""
    realized: str = "0"
    """Realized PnL before fees."""
    unrealized: str = "0"
    fees: str = "0"
    pnl: str = "0"
    """realized - fees + unrealized."""
    fills: int = 0
    open_orders: int = 0


class Strategies(Payload, kw_only=True):
    """Retained at ``strategy/list``: every strategy, and the files a backtest can run."""

    ts: int
    strategies: list[StrategyInfo]
    files: list[str] = msgspec.field(default_factory=list)
    """Strategy files in ``[strategies] dir``."""


class MetricsInfo(msgspec.Struct, kw_only=True):
    """The figures of one equity curve (the strategy's or buy-and-hold's)."""

    total_return: float
    annualized_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    """Fraction of the peak (0.05 = 5 %)."""
    max_drawdown_duration_ns: int


class TradeStatsInfo(msgspec.Struct, kw_only=True):
    trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    """Average net PnL per trade, in the quote currency."""
    average_hold_ns: int | None
    exposure: float
    """Fraction of the replayed time with a position open."""


class BacktestProgress(Payload, kw_only=True):
    """Retained at ``backtest/progress``: the newest run's progress, conflated."""

    ts: int
    run_id: str
    strategy: str
    state: BacktestStateText
    done: int
    """Rows replayed so far."""
    total: int
    """Rows to replay (0 while unknown)."""
    result_id: str | None = None
    """Set when ``done``: open it with ``backtest.result``."""
    error: str | None = None


class BacktestListing(msgspec.Struct, kw_only=True):
    """One stored result, as ``backtest.list`` lists it (newest first)."""

    id: str
    strategy: str
    instruments: list[str]
    start: str | None
    end: str | None
    currency: str
    pnl: str
    total_return: float
    trades: int
    created_ns: int


class TradeInfo(msgspec.Struct, kw_only=True):
    """One round trip of a backtest."""

    instrument_id: str
    direction: Literal["long", "short"]
    entry_ts: int
    exit_ts: int
    quantity: str
    entry_price: str
    exit_price: str
    pnl: str
    """Net of fees."""
    fees: str


class DatasetInfo(msgspec.Struct, kw_only=True):
    """Recorded ticks of one instrument: the days a backtest can replay."""

    instrument_id: str
    first_day: str
    last_day: str
    days: int


class BacktestResult(Payload, kw_only=True):
    """``backtest.result``: one stored result with its curve and trades."""

    id: str
    strategy: str
    strategy_file: str
    params: dict[str, bool | int | float | str]
    instruments: list[str]
    start: str | None
    end: str | None
    currency: str
    initial_equity: str
    final_equity: str
    pnl: str
    fees: str
    metrics: MetricsInfo
    trade_stats: TradeStatsInfo
    buy_and_hold: MetricsInfo
    orders: int
    fills: int
    ticks: int
    wall_s: float
    ticks_per_s: float
    created_ns: int
    strategy_state: str
    equity: list[tuple[int, float]]
    """``[ts, equity]`` points of the strategy's curve (bounded)."""
    trades: list[TradeInfo]
    """Round trips, oldest first (the newest 500 at most)."""
    trades_total: int
