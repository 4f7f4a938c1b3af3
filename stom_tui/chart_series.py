"""Per-instrument chart history: a ring of recent trades, bars per timeframe, fills and orders.

Pure data (no Textual): the price chart widget draws from it. Sources, per instrument:

- trades (``md/trades`` and the engine's trade history) go into a bounded tick ring, and are
  also resampled into 1-second bars, so the 1 s chart moves even where the engine sends no 1 s
  bars for that instrument;
- bars the engine sends (``BarHistory`` and ``BarUpdate``) are kept per timeframe; the forming
  bar is replaced by each update and by the closed bar of the same open time;
- a timeframe's bars are the engine's bars where it sent them, and otherwise bars folded from the
  next finer timeframe (1 s -> 1 m -> 5 m -> 15 m), so 5 m and 15 m follow the live 1 m bars.

Prices and sizes are ``Decimal`` parsed from the payloads' decimal strings: exact, never float.
Everything is bounded (ticks, bars per timeframe, fills, instruments).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from engine.protocol.payloads import BarRow, TradeRow
from engine.protocol.trading import OPEN_STATUSES, OrderRow
from stom_tui.formatting import parse_decimal

Side = Literal["buy", "sell"]
Timeframe = Literal["tick", "1s", "1m", "5m", "15m"]

TIMEFRAMES: tuple[Timeframe, ...] = ("tick", "1s", "1m", "5m", "15m")
"""The chart's modes in the order the timeframe key cycles them."""
NS_PER_S = 1_000_000_000
TIMEFRAME_NS: dict[str, int] = {
    "1s": NS_PER_S,
    "1m": 60 * NS_PER_S,
    "5m": 300 * NS_PER_S,
    "15m": 900 * NS_PER_S,
}
_FINER: dict[str, str] = {"1m": "1s", "5m": "1m", "15m": "5m"}
"""The timeframe whose bars fold into a coarser one where the engine sent none."""

MAX_TICKS = 2_000
MAX_BARS = 600
MAX_FILLS = 200
MAX_INSTRUMENTS = 16


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade: time (ns UTC), exact price and size, aggressor side."""

    ts_ns: int
    price: Decimal
    size: Decimal
    side: Side


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar with exact values; ``ts_open`` is the window's start (ns UTC)."""

    ts_open: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int

    @classmethod
    def from_row(cls, row: BarRow) -> Bar | None:
        """The bar of a payload row, or None when a value is not a number."""
        values = [parse_decimal(text) for text in (row.open, row.high, row.low, row.close)]
        volume = parse_decimal(row.volume)
        if volume is None or any(value is None for value in values):
            return None
        open_, high, low, close = (value for value in values if value is not None)
        return cls(row.ts_open, open_, high, low, close, volume, row.trades)

    @classmethod
    def of_tick(cls, ts_open: int, tick: Tick) -> Bar:
        price = tick.price
        return cls(ts_open, price, price, price, price, tick.size, 1)

    def folded(self, later: Bar) -> Bar:
        """This bar extended by a later one (a finer bar or a trade) in the same window."""
        return Bar(
            self.ts_open,
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.volume + later.volume,
            self.trades + later.trades,
        )


@dataclass(frozen=True, slots=True)
class FillMark:
    """One of our fills, drawn as a point at its time and price."""

    ts_ns: int
    price: Decimal
    side: Side


@dataclass(frozen=True, slots=True)
class OrderMark:
    """One of our working limit orders, drawn as a line at its price."""

    client_order_id: str
    side: Side
    price: Decimal
    remaining: Decimal


def window_start(ts_ns: int, timeframe: str) -> int:
    """The open time of the ``timeframe`` bar holding ``ts_ns``."""
    return ts_ns - ts_ns % TIMEFRAME_NS[timeframe]


class BarBook:
    """Bars by open time, at most ``max_bars`` (the oldest go first)."""

    __slots__ = ("_bars", "_max_bars", "_sorted")

    def __init__(self, max_bars: int = MAX_BARS) -> None:
        self._bars: dict[int, Bar] = {}
        self._max_bars = max_bars
        self._sorted: list[Bar] | None = []

    def __len__(self) -> int:
        return len(self.bars())

    def get(self, ts_open: int) -> Bar | None:
        return self._bars.get(ts_open)

    def put(self, bar: Bar) -> None:
        """Add a bar, or replace the one with the same open time (the forming bar)."""
        self._bars[bar.ts_open] = bar
        self._sorted = None
        # Trimmed in batches: a history of max_bars bars merged into a full book sorts once.
        if len(self._bars) > self._max_bars + self._max_bars // 4:
            for ts_open in sorted(self._bars)[: len(self._bars) - self._max_bars]:
                del self._bars[ts_open]

    def bars(self) -> list[Bar]:
        """The newest ``max_bars``, oldest first."""
        if self._sorted is None:
            self._sorted = [self._bars[ts] for ts in sorted(self._bars)[-self._max_bars :]]
        return self._sorted

    def clear(self) -> None:
        self._bars.clear()
        self._sorted = []


def fold_bars(bars: Sequence[Bar], timeframe: str) -> list[Bar]:
    """Bars of a coarser ``timeframe`` folded from finer ``bars`` (oldest first).

    The first window is left out unless the finer bars start exactly at its open: it may hold
    bars from before the finer history began, so its values would be wrong.
    """
    folded: list[Bar] = []
    for bar in bars:
        start = window_start(bar.ts_open, timeframe)
        if folded and folded[-1].ts_open == start:
            folded[-1] = folded[-1].folded(bar)
        else:
            folded.append(
                Bar(start, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
            )
    if folded and bars and bars[0].ts_open != folded[0].ts_open:
        folded.pop(0)
    return folded


class InstrumentHistory:
    """Everything the chart shows for one instrument, bounded."""

    def __init__(
        self,
        instrument_id: str,
        *,
        max_ticks: int = MAX_TICKS,
        max_bars: int = MAX_BARS,
        max_fills: int = MAX_FILLS,
    ) -> None:
        self.instrument_id = instrument_id
        self.ticks: deque[Tick] = deque(maxlen=max_ticks)
        """Recent trades, oldest first."""
        self.fills: deque[FillMark] = deque(maxlen=max_fills)
        self._max_bars = max_bars
        self._engine_bars = {tf: BarBook(max_bars) for tf in TIMEFRAME_NS}
        self._trade_bars = BarBook(max_bars)
        """1 s bars resampled from the trades seen."""
        self.revision = 0
        """Bumped by every change: the widget redraws when it moved."""
        self._merged: dict[str, tuple[int, list[Bar]]] = {}

    # --- trades -------------------------------------------------------------------------------

    def add_trades(self, rows: Iterable[TradeRow]) -> int:
        """Append live trades (oldest first); returns how many were valid."""
        added = 0
        for row in rows:
            tick = _tick(row)
            if tick is None:
                continue
            self.ticks.append(tick)
            self._resample(tick)
            added += 1
        if added:
            self.revision += 1
        return added

    def set_trades(self, rows: Iterable[TradeRow]) -> None:
        """Take the engine's recent trades (oldest first) as the tick history.

        Live trades already received that are newer than the history's last one are kept
        after it (the history was read before they arrived).
        """
        history = [tick for row in rows if (tick := _tick(row)) is not None]
        last_ts = history[-1].ts_ns if history else -1
        newer = [tick for tick in self.ticks if tick.ts_ns > last_ts]
        self.ticks.clear()
        self.ticks.extend(history)
        self.ticks.extend(newer)
        first_window = window_start(self.ticks[0].ts_ns, "1s") if self.ticks else None
        kept = [
            bar
            for bar in self._trade_bars.bars()
            if first_window is None or bar.ts_open < first_window
        ]
        self._trade_bars.clear()
        for bar in kept:
            self._trade_bars.put(bar)
        for tick in self.ticks:
            self._resample(tick)
        self.revision += 1

    def _resample(self, tick: Tick) -> None:
        start = window_start(tick.ts_ns, "1s")
        current = self._trade_bars.get(start)
        bar = Bar.of_tick(start, tick)
        self._trade_bars.put(bar if current is None else current.folded(bar))

    # --- bars ---------------------------------------------------------------------------------

    def set_bars(self, timeframe: str, rows: Iterable[BarRow]) -> None:
        """Merge the engine's closed bars (a history); a newer forming bar stays."""
        book = self._engine_bars.get(timeframe)
        if book is None:
            return
        for row in rows:
            bar = Bar.from_row(row)
            if bar is not None:
                book.put(bar)
        self.revision += 1

    def update_bars(self, timeframe: str, forming: BarRow | None, closed: Iterable[BarRow]) -> None:
        """Apply a live update: closed bars, then the forming bar (replacing the previous one)."""
        self.set_bars(timeframe, [*closed, *([forming] if forming is not None else [])])

    def bars(self, timeframe: str) -> list[Bar]:
        """The timeframe's bars, oldest first: the engine's, completed from finer bars."""
        cached = self._merged.get(timeframe)
        if cached is not None and cached[0] == self.revision:
            return cached[1]
        finer = _FINER.get(timeframe)
        derived = (
            self._trade_bars.bars() if finer is None else fold_bars(self.bars(finer), timeframe)
        )
        merged = {bar.ts_open: bar for bar in derived}
        merged.update((bar.ts_open, bar) for bar in self._engine_bars[timeframe].bars())
        bars = [merged[ts] for ts in sorted(merged)[-self._max_bars :]]
        self._merged[timeframe] = (self.revision, bars)
        return bars

    # --- fills --------------------------------------------------------------------------------

    def add_fill(self, ts_ns: int, price: Decimal, side: Side) -> None:
        self.fills.append(FillMark(ts_ns, price, side))
        self.revision += 1

    def fills_between(self, start_ns: int, end_ns: int) -> list[FillMark]:
        """Fills with ``start_ns <= ts < end_ns``."""
        return [fill for fill in self.fills if start_ns <= fill.ts_ns < end_ns]


class ChartHistory:
    """Histories of the instruments seen, the least recently used dropped past a bound."""

    def __init__(self, max_instruments: int = MAX_INSTRUMENTS, **limits: int) -> None:
        self._histories: OrderedDict[str, InstrumentHistory] = OrderedDict()
        self._max_instruments = max_instruments
        self._limits = limits
        self.pinned: str | None = None
        """The instrument on screen: never dropped, however much else arrives."""

    def __len__(self) -> int:
        return len(self._histories)

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._histories

    def get(self, instrument_id: str) -> InstrumentHistory:
        """The instrument's history, created empty if new; it becomes the most recent."""
        history = self._histories.get(instrument_id)
        if history is None:
            history = InstrumentHistory(instrument_id, **self._limits)
            self._histories[instrument_id] = history
            if len(self._histories) > self._max_instruments:
                kept = (self.pinned, instrument_id)
                oldest = next((name for name in self._histories if name not in kept), None)
                if oldest is not None:
                    del self._histories[oldest]
        else:
            self._histories.move_to_end(instrument_id)
        return history


def working_orders(orders: Iterable[OrderRow], instrument_id: str) -> list[OrderMark]:
    """The instrument's open limit orders with what remains of each, lowest price first."""
    marks: list[OrderMark] = []
    for order in orders:
        if order.instrument_id != instrument_id or order.status not in OPEN_STATUSES:
            continue
        price = parse_decimal(order.price)
        quantity = parse_decimal(order.quantity)
        filled = parse_decimal(order.filled) or Decimal(0)
        if price is None or quantity is None:
            continue
        marks.append(OrderMark(order.client_order_id, order.side, price, quantity - filled))
    return sorted(marks, key=lambda mark: mark.price)


def _tick(row: TradeRow) -> Tick | None:
    price, size = parse_decimal(row.price), parse_decimal(row.size)
    if price is None or size is None:
        return None
    return Tick(row.ts_event, price, size, row.side)
