"""An instrument's recent trades and bars, asked of the engine (``md.history``).

The console loads it on every instrument switch and on attach, so the chart and the tape show
what happened before they started listening instead of "waiting for trades".
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.protocol.codec import DecodeError
from engine.protocol.commands import MAX_HISTORY_TRADES
from engine.protocol.payloads import BarRow, TradeRow
from engine.protocol.results import MarketHistoryResult, result_of
from stom_tui.feed import Feed

ALL_TIMEFRAMES: tuple[str, ...] = ("1s", "1m", "5m", "15m")
"""Every bar timeframe ``md.history`` serves."""

HISTORY_TIMEOUT_S = 3.0
"""How long to wait for the reply: longer than a ping, since it carries up to ~100 kB."""


@dataclass(frozen=True)
class MarketHistory:
    """What the engine held for one instrument when asked.

    ``trades`` are oldest first; ``bars`` maps each timeframe asked for to its closed bars,
    oldest first, then the forming bar if there is one.
    """

    instrument_id: str
    trades: list[TradeRow]
    bars: dict[str, list[BarRow]]


class HistoryUnavailable(Exception):
    """The engine refused ``md.history``, did not answer in time, or answered nonsense."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def load_history(
    feed: Feed,
    instrument_id: str,
    *,
    trades: int = 500,
    timeframes: tuple[str, ...] = ALL_TIMEFRAMES,
    timeout: float = HISTORY_TIMEOUT_S,
) -> MarketHistory:
    """Ask the engine for ``instrument_id``'s newest ``trades`` trades and its bars.

    Raises :class:`HistoryUnavailable` with a reason a user can read: the engine's refusal (an
    unknown instrument, an engine too old to know ``md.history``), a timeout, no broker, or a
    reply whose result does not match :class:`MarketHistoryResult`.
    """
    args = {
        "instrument": instrument_id,
        "trades": max(0, min(trades, MAX_HISTORY_TRADES)),
        "timeframes": list(timeframes),
    }
    try:
        reply = await feed.request("md.history", args, timeout=timeout)
    except TimeoutError:
        raise HistoryUnavailable(
            f"the engine did not answer md.history for {instrument_id} within {timeout:g} s"
        ) from None
    except ConnectionError as exc:
        raise HistoryUnavailable(str(exc)) from None
    if reply.status != "accepted":
        raise HistoryUnavailable(reply.reason or f"md.history for {instrument_id} was refused")
    try:
        result = result_of(reply, MarketHistoryResult)
    except DecodeError as exc:
        raise HistoryUnavailable(f"the engine's md.history reply is malformed: {exc}") from None
    if result.instrument != instrument_id:
        raise HistoryUnavailable(
            f"md.history for {instrument_id} answered for {result.instrument} instead"
        )
    return MarketHistory(instrument_id=result.instrument, trades=result.trades, bars=result.bars)
