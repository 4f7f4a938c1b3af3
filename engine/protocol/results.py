"""Typed results of the commands' replies (``Reply.result``), one struct per command.

The engine's handlers return these; on the wire ``result`` is the struct as a JSON object.
Clients read a reply's result with :func:`result_of` (strict: a result that does not match its
struct is a :class:`~engine.protocol.codec.DecodeError`, not a silent ``.get(...) or []``).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from engine.protocol.codec import DecodeError
from engine.protocol.optimize import StudyListing
from engine.protocol.payloads import BarRow, EngineStats, EngineStatus, Reply, TradeRow
from engine.protocol.research import MonteCarloProgress, WalkForwardProgress
from engine.protocol.strategies import (
    BacktestListing,
    BacktestResult,
    DatasetInfo,
    ParamInfo,
    StrategyInfo,
)
from engine.protocol.trading import BalanceRow, OrderRow, PositionRow

R = TypeVar("R", bound=msgspec.Struct)


class Result(msgspec.Struct, kw_only=True):
    """Base of every command result."""


class PingResult(Result, kw_only=True):
    engine_id: str
    ts: int


class StatusResult(Result, kw_only=True):
    status: EngineStatus
    stats: EngineStats
    commands: list[str]


class SubmitResult(Result, kw_only=True):
    """``order.submit`` (also the result of its risk denial)."""

    order: OrderRow
    duplicate: bool
    """True when the client order id was already known: the existing order, unchanged."""


class OrderResult(Result, kw_only=True):
    """``order.cancel``."""

    order: OrderRow


class ReplaceResult(Result, kw_only=True):
    order: OrderRow
    """The new order."""
    replaced: str
    """The client order id of the order it replaces."""


class CanceledResult(Result, kw_only=True):
    """``order.cancel_all``."""

    canceled: list[str]


class OrdersResult(Result, kw_only=True):
    orders: list[OrderRow]


class PositionsResult(Result, kw_only=True):
    positions: list[PositionRow]
    balances: list[BalanceRow]


class KillResult(Result, kw_only=True):
    canceled: list[str]
    flatten: list[str]
    """Client order ids of the closing orders sent."""


class EmptyResult(Result, kw_only=True):
    """``kill.reset``."""


class ArmResult(Result, kw_only=True):
    """``arm`` / ``disarm``."""

    armed_venues: list[str]


class ProtectResult(Result, kw_only=True):
    position: PositionRow


class StrategyListResult(Result, kw_only=True):
    strategies: list[StrategyInfo]
    files: list[str]


class StrategyResult(Result, kw_only=True):
    """``strategy.toggle`` / ``strategy.params``."""

    strategy: StrategyInfo


class DescribeResult(Result, kw_only=True):
    name: str
    doc: str
    params: list[ParamInfo]


class RunResult(Result, kw_only=True):
    """``backtest.run`` / ``backtest.cancel``."""

    run_id: str


class StudyRunResult(Result, kw_only=True):
    """``optimize.run`` / ``optimize.cancel``."""

    run_id: str
    study: str


class BacktestListResult(Result, kw_only=True):
    results: list[BacktestListing]
    datasets: list[DatasetInfo]


class StudyListResult(Result, kw_only=True):
    studies: list[StudyListing]


class ResearchRunResult(Result, kw_only=True):
    """``walkforward.run`` / ``walkforward.cancel`` / ``montecarlo.run``."""

    run_id: str
    name: str
    """The walk-forward run's name, or the backtest result a Monte Carlo run resamples."""


class WalkForwardStatusResult(Result, kw_only=True):
    """``walkforward.status``: the newest run (null: none since the engine started)."""

    progress: WalkForwardProgress | None


class MonteCarloStatusResult(Result, kw_only=True):
    """``montecarlo.status``: the newest run (null: none since the engine started)."""

    progress: MonteCarloProgress | None


class MarketHistoryResult(Result, kw_only=True):
    """``md.history``: an instrument's recent trades and bars, as the engine holds them."""

    instrument: str
    ts: int
    """Engine time of the answer (ns UTC): a last bar whose interval ends after it is forming."""
    trades: list[TradeRow]
    """The newest trades asked for, oldest first."""
    bars: dict[str, list[BarRow]]
    """Per timeframe asked for: closed bars oldest first, then the forming bar if there is one."""


RESULT_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "ping": PingResult,
    "status": StatusResult,
    "order.submit": SubmitResult,
    "order.cancel": OrderResult,
    "order.cancel_all": CanceledResult,
    "order.replace": ReplaceResult,
    "orders": OrdersResult,
    "positions": PositionsResult,
    "kill": KillResult,
    "kill.reset": EmptyResult,
    "arm": ArmResult,
    "disarm": ArmResult,
    "protect": ProtectResult,
    "strategy.list": StrategyListResult,
    "strategy.toggle": StrategyResult,
    "strategy.params": StrategyResult,
    "strategy.describe": DescribeResult,
    "backtest.run": RunResult,
    "backtest.cancel": RunResult,
    "backtest.list": BacktestListResult,
    "backtest.result": BacktestResult,
    "optimize.run": StudyRunResult,
    "optimize.cancel": StudyRunResult,
    "optimize.list": StudyListResult,
    "walkforward.run": ResearchRunResult,
    "walkforward.cancel": ResearchRunResult,
    "walkforward.status": WalkForwardStatusResult,
    "montecarlo.run": ResearchRunResult,
    "montecarlo.status": MonteCarloStatusResult,
    "md.history": MarketHistoryResult,
}
"""Command type → the struct of its accepted reply's ``result``."""


def result_of(reply: Reply, kind: type[R]) -> R:
    """``reply.result`` as ``kind``; :class:`DecodeError` when it is missing or does not match."""
    raw: Any = reply.result
    if raw is None:
        raise DecodeError(f"{reply.type} reply has no result ({reply.reason or reply.status})")
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"{kind.__name__}: {exc}") from None
