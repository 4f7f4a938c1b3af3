"""Price and volume sparklines of the selected instrument: tick by tick and 1-minute bars.

Trades and bars land in bounded buffers as they arrive; the sparklines are redrawn from the
buffers on a timer, so a burst of trades costs one redraw, not one per message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from engine.protocol.payloads import BarHistory, BarRow, BarUpdate, Trades
from stom_tui.formatting import format_decimal, format_quantity, parse_decimal

BAR_TIMEFRAME = "1m"
MAX_BARS = 240
REDRAW_INTERVAL_S = 0.2


def _last(values: Sequence[float]) -> float:
    """A price bucket is shown by its last value (its close).

    Summaries must stay within the data's min and max (the sparkline scales by those), which is
    also why volume buckets show their largest value rather than their sum.
    """
    return values[-1]


class ChartPane(Vertical):
    """Tick-by-tick and 1-minute price and volume sparklines, each labelled with last and range."""

    def __init__(
        self, tick_points: int = 120, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Chart"
        self.instrument_id: str | None = None
        self.ticks: deque[tuple[Decimal, Decimal]] = deque(maxlen=tick_points)
        """(price, size) of the latest trades, oldest first."""
        self.bars: dict[int, BarRow] = {}
        """1-minute bars by open time: closed bars and the forming one."""
        self._dirty = True

    def compose(self) -> ComposeResult:
        yield Static(id="tick-label", classes="chart-label")
        yield Sparkline([], summary_function=_last, id="tick-price", classes="price")
        yield Sparkline([], summary_function=max, id="tick-volume", classes="volume")
        yield Static(id="bar-label", classes="chart-label")
        yield Sparkline([], summary_function=_last, id="bar-price", classes="price")
        yield Sparkline([], summary_function=max, id="bar-volume", classes="volume")

    def on_mount(self) -> None:
        self.set_interval(REDRAW_INTERVAL_S, self.flush, name="chart-redraw")
        self.flush()

    def on_resize(self) -> None:
        # Labels drop their least important parts to fit the width.
        self._dirty = True

    # --- data ---------------------------------------------------------------------------------

    def show_instrument(self, instrument_id: str) -> None:
        """Follow another instrument: its buffers start empty and fill as data arrives."""
        if instrument_id == self.instrument_id:
            return
        self.instrument_id = instrument_id
        self.ticks.clear()
        self.bars.clear()
        self.border_title = f"Chart · {instrument_id}"
        self._dirty = True
        self.flush()

    def add_trades(self, trades: Trades) -> None:
        if trades.id != self.instrument_id:
            return
        for row in trades.trades:
            price, size = parse_decimal(row.price), parse_decimal(row.size)
            if price is not None and size is not None:
                self.ticks.append((price, size))
        self._dirty = True

    def set_bar_history(self, history: BarHistory) -> None:
        if history.id != self.instrument_id or history.tf != BAR_TIMEFRAME:
            return
        forming = [bar for ts, bar in self.bars.items() if ts > _newest(history.bars)]
        self.bars = {bar.ts_open: bar for bar in history.bars}
        self.bars.update({bar.ts_open: bar for bar in forming})
        self._trim_bars()
        self._dirty = True

    def update_bar(self, update: BarUpdate) -> None:
        if update.id != self.instrument_id or update.tf != BAR_TIMEFRAME:
            return
        for bar in update.closed:
            self.bars[bar.ts_open] = bar
        if update.forming is not None:
            self.bars[update.forming.ts_open] = update.forming
        self._trim_bars()
        self._dirty = True

    def _trim_bars(self) -> None:
        if len(self.bars) > MAX_BARS or list(self.bars) != sorted(self.bars):
            newest = sorted(self.bars)[-MAX_BARS:]
            self.bars = {ts: self.bars[ts] for ts in newest}

    # --- drawing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Redraw the sparklines from the buffers if anything changed since the last redraw."""
        if not self._dirty or not self.is_mounted:
            return
        self._dirty = False
        prices = [price for price, _ in self.ticks]
        self.query_one("#tick-price", Sparkline).data = [float(p) for p in prices]
        self.query_one("#tick-volume", Sparkline).data = [float(size) for _, size in self.ticks]
        self.query_one("#tick-label", Static).update(self._tick_label(prices))
        bars = list(self.bars.values())
        closes = [parse_decimal(bar.close) or Decimal(0) for bar in bars]
        self.query_one("#bar-price", Sparkline).data = [float(c) for c in closes]
        volumes = [float(parse_decimal(bar.volume) or 0) for bar in bars]
        self.query_one("#bar-volume", Sparkline).data = volumes
        self.query_one("#bar-label", Static).update(self._bar_label(bars))

    def _tick_label(self, prices: list[Decimal]) -> Text:
        width = self.content_size.width
        if not prices:
            return _label(width, "Ticks", ("waiting for trades…", "waiting…"))
        volume = sum((size for _, size in self.ticks), Decimal(0))
        low, high = min(prices), max(prices)
        return _label(
            width,
            "Ticks",
            (f"last {format_decimal(prices[-1])}", format_decimal(prices[-1])),
            (
                f"range {format_decimal(low)} – {format_decimal(high)}",
                f"hi-lo {format_decimal(high - low)}",
            ),
            (f"vol {format_quantity(str(volume))}", ""),
            (f"{len(prices)} trades", ""),
        )

    def _bar_label(self, bars: list[BarRow]) -> Text:
        width = self.content_size.width
        if not bars:
            return _label(width, "1 min", ("waiting for bars…", "waiting…"))
        lows = [value for bar in bars if (value := parse_decimal(bar.low)) is not None]
        highs = [value for bar in bars if (value := parse_decimal(bar.high)) is not None]
        low, high = min(lows, default=None), max(highs, default=None)
        spread = format_decimal(high - low) if low is not None and high is not None else ""
        return _label(
            width,
            "1 min",
            (f"close {format_decimal(bars[-1].close)}", format_decimal(bars[-1].close)),
            (f"range {format_decimal(low)} – {format_decimal(high)}", f"hi-lo {spread}"),
            (f"vol {format_quantity(bars[-1].volume)}", ""),
            (f"{len(bars)} bars", ""),
        )


def _newest(bars: list[BarRow]) -> int:
    return bars[-1].ts_open if bars else -1


def _label(width: int, title: str, *parts: tuple[str, str]) -> Text:
    """``title`` then each part in full, or in its short form (if any) when that does not fit."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{title:<6}", style="bold")
    separator = ""
    for full, short in parts:
        for candidate in (full, short):
            if candidate and len(text) + len(separator) + len(candidate) <= width:
                text.append(separator + candidate)
                separator = " · "
                break
    return text
