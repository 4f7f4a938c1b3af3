"""Recent trades and bars of one instrument, on request (``md.history``).

A console that switches instrument, or attaches to a running engine, shows history at once
instead of waiting for the market to refill its chart and tape. Everything comes from memory the
engine keeps anyway, bounded per instrument:

- trades: the ring :class:`~engine.market_state.MarketState` writes on the hot path; the node
  sizes it to at least :data:`HISTORY_TRADES` (nothing extra is written per trade);
- bars: the closed bars (``[engine] bar_history`` of them) and the forming bar of each
  timeframe the market state builds (:data:`engine.market_state.TIMEFRAMES`, the only ones
  ``md.history`` accepts).
"""

from __future__ import annotations

from engine.commands import CommandRejected, CommandRouter
from engine.domain.clock import Clock
from engine.domain.market_data import Bar
from engine.market_publisher import bar_row
from engine.market_state import InstrumentState, MarketState
from engine.protocol.commands import MAX_HISTORY_TRADES, MdHistoryArgs
from engine.protocol.payloads import BarRow, TradeRow
from engine.protocol.results import MarketHistoryResult

HISTORY_TRADES = MAX_HISTORY_TRADES
"""Trades the market state keeps per instrument, at least (the ring's size)."""

KNOWN_SHOWN = 12
"""Instruments named in the refusal of an unknown one (a venue may stream hundreds)."""


def recent_trades(state: InstrumentState, count: int) -> list[TradeRow]:
    """The newest ``count`` trades still in the ring, oldest first."""
    if count <= 0 or not state.trade_count:
        return []
    rows, _ = state.trades_since(max(0, state.trade_count - count))
    inst = state.instrument
    fp, fs = inst.format_price, inst.format_size
    # The ring's side is the aggressor's: 0 buy, 1 sell (as the publisher reads it).
    return [
        TradeRow(ts, fp(px), fs(sz), "buy" if side == 0 else "sell") for ts, px, sz, side in rows
    ]


def series_bars(state: InstrumentState, timeframe: str) -> list[Bar]:
    """Bars of a timeframe the market state builds: closed oldest first, then the forming one."""
    series = state.bar_series(timeframe)
    bars = list(series.history)
    if series.current is not None:
        bars.append(series.current)
    return bars


def history_bars(state: InstrumentState, timeframe: str) -> list[BarRow]:
    """A timeframe's bars as protocol rows: closed bars oldest first, then the forming one."""
    return [bar_row(bar, state.instrument) for bar in series_bars(state, timeframe)]


class MarketHistoryCommands:
    """Answers ``md.history`` from the market state (read only: it never closes a bar)."""

    def __init__(self, market: MarketState, clock: Clock) -> None:
        self.market = market
        self.clock = clock

    def register(self, router: CommandRouter) -> None:
        router.register("md.history", self.history)

    async def history(self, args: MdHistoryArgs) -> MarketHistoryResult:
        state = self.market.get(args.instrument)
        if state is None:
            known = [str(inst.id) for inst in self.market.instruments()]
            shown = ", ".join(known[:KNOWN_SHOWN]) or "none"
            if len(known) > KNOWN_SHOWN:
                shown += f" and {len(known) - KNOWN_SHOWN} more"
            raise CommandRejected(
                f"unknown instrument {args.instrument!r}; this engine streams: {shown}"
            )
        # dict.fromkeys: a timeframe asked for twice is answered once, in the order asked.
        return MarketHistoryResult(
            instrument=str(state.instrument.id),
            ts=self.clock.now_ns(),
            trades=recent_trades(state, args.trades),
            bars={tf: history_bars(state, tf) for tf in dict.fromkeys(args.timeframes)},
        )


__all__ = [
    "HISTORY_TRADES",
    "MarketHistoryCommands",
    "history_bars",
    "recent_trades",
]
