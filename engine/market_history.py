"""Recent trades and bars of one instrument, on request (``md.history``).

A console that switches instrument, or attaches to a running engine, shows history at once
instead of waiting for the market to refill its chart and tape. Everything comes from memory the
engine keeps anyway, bounded per instrument:

- trades: the ring :class:`~engine.market_state.MarketState` writes on the hot path; the node
  sizes it to at least :data:`HISTORY_TRADES` (nothing extra is written per trade);
- bars: the closed bars (``[engine] bar_history`` of them) and the forming bar of each
  timeframe the market state builds (:data:`engine.market_state.TIMEFRAMES`); a longer timeframe
  it does not build is rolled up from its 1-minute bars, so it reaches back as far as those do.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.bars import TIMEFRAME_NS
from engine.commands import CommandRejected, CommandRouter
from engine.domain.clock import Clock
from engine.domain.market_data import Bar
from engine.market_publisher import bar_row
from engine.market_state import TIMEFRAMES, InstrumentState, MarketState
from engine.protocol.commands import MAX_HISTORY_TRADES, MdHistoryArgs
from engine.protocol.payloads import BarRow, TradeRow
from engine.protocol.results import MarketHistoryResult

HISTORY_TRADES = MAX_HISTORY_TRADES
"""Trades the market state keeps per instrument, at least (the ring's size)."""

KNOWN_SHOWN = 12
"""Instruments named in the refusal of an unknown one (a venue may stream hundreds)."""

ROLLUP_SOURCE = "1m"
"""The timeframe longer bars are rolled up from when the market state does not build them."""


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


def roll_up(bars: Iterable[Bar], interval_ns: int) -> list[Bar]:
    """Bars (oldest first) merged into bars of ``interval_ns``: first open, extremes, last close,
    summed volume and trade count. Intervals without a source bar get no bar, as on venues."""
    merged: list[Bar] = []
    for bar in bars:
        ts_open = bar.ts_open - bar.ts_open % interval_ns
        last = merged[-1] if merged else None
        if last is None or last.ts_open != ts_open:
            merged.append(
                Bar(ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
            )
            continue
        last.high = max(last.high, bar.high)
        last.low = min(last.low, bar.low)
        last.close = bar.close
        last.volume += bar.volume
        last.trades += bar.trades
    return merged


def rolled_up_bars(state: InstrumentState, timeframe: str) -> list[Bar]:
    """A timeframe's bars rolled up from the 1-minute bars, the forming one last."""
    source = series_bars(state, ROLLUP_SOURCE)
    bars = roll_up(source, TIMEFRAME_NS[timeframe])
    history = state.bar_series(ROLLUP_SOURCE).history
    if bars and len(history) == history.maxlen and bars[0].ts_open < source[0].ts_open:
        # The source's oldest bars fell off its history: the first rolled-up interval may lack
        # its start, and a wrong open or volume is worse than one bar fewer.
        del bars[0]
    return bars


def history_bars(state: InstrumentState, timeframe: str) -> list[BarRow]:
    """A timeframe's bars as protocol rows: closed bars oldest first, then the forming one."""
    if timeframe in TIMEFRAMES and state.bar_series(timeframe).timeframe == timeframe:
        bars = series_bars(state, timeframe)
    else:
        bars = rolled_up_bars(state, timeframe)
    return [bar_row(bar, state.instrument) for bar in bars]


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
    "roll_up",
    "rolled_up_bars",
]
