"""The risk engine: pure rules over the OMS's state, no I/O and no clock of its own.

- :mod:`~engine.risk.limits`: :class:`RiskLimits`, parsed once from ``[risk]``.
- :mod:`~engine.risk.pre_trade`: :class:`PreTradeRisk`, the rules every order passes first.
- :mod:`~engine.risk.stale_feed`: when an instrument's feed counts as silent.
- :mod:`~engine.risk.post_trade`: :class:`PostTradeRisk`, daily loss and drawdown trips.
- :mod:`~engine.risk.protective_exits`: stop-loss, take-profit and trailing stop per position.
- :mod:`~engine.risk.state`: :class:`RiskState`, the kill switch and what is journalled.
- :mod:`~engine.risk.view`: :class:`RiskView`, what the OMS lets risk read.

Time comes in as integer ns UTC from the caller's clock; money is exact (raw integers and
``Decimal``, never float).
"""

from __future__ import annotations

from engine.risk.exposure import Exposure, gross_exposure
from engine.risk.limits import ExitDefaults, RiskLimits
from engine.risk.post_trade import PostTradeRisk, trading_day
from engine.risk.pre_trade import RULES, Denial, PreTradeRisk
from engine.risk.protective_exits import (
    EXIT_STRATEGY_ID,
    ExitLevels,
    ExitSignal,
    ProtectiveExits,
)
from engine.risk.stale_feed import feed_silence, stale_feeds
from engine.risk.state import RiskState
from engine.risk.view import RiskView

__all__ = [
    "EXIT_STRATEGY_ID",
    "RULES",
    "Denial",
    "ExitDefaults",
    "ExitLevels",
    "ExitSignal",
    "Exposure",
    "PostTradeRisk",
    "PreTradeRisk",
    "ProtectiveExits",
    "RiskLimits",
    "RiskState",
    "RiskView",
    "feed_silence",
    "gross_exposure",
    "stale_feeds",
    "trading_day",
]
