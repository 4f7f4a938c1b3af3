"""The selected instrument's price chart: a tick line or 1 s / 1 m / 5 m / 15 m candles with
volume, own fills and working orders marked, on labelled price and time axes.

Drawn with textual-plotext (plotext) used as a canvas with axes: the chart maps prices to rows
and bars to columns itself (one candle per column, or per two columns when the pane is wide),
sets the axis ticks and labels from exact ``Decimal`` prices on the instrument's grid, and hands
plotext cells to draw. So a one-bar history is one thin candle, not a block stretched across
the pane, and labels never show float noise.

Data lands in a bounded per-instrument history (:mod:`stom_tui.chart_series`) as it arrives; the
plot is rebuilt at most ``redraw_interval`` apart, only when something changed and the chart is
on screen, so a burst of trades costs one replot. Switching instrument or timeframe replots at
once (a key must answer quickly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar

from plotext._utility import colors_to_ansi  # type: ignore[import-untyped]
from rich.style import Style
from rich.text import Span, Text
from textual.app import ComposeResult, RenderResult
from textual.reactive import reactive
from textual.widget import Widget
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from engine.protocol.payloads import BarHistory, BarUpdate, InstrumentInfo, TradeRow, Trades
from engine.protocol.trading import OrderRow
from stom_tui.chart_axes import AxisUnit, price_label
from stom_tui.chart_series import (
    TIMEFRAMES,
    ChartHistory,
    InstrumentHistory,
    Side,
    Timeframe,
    working_orders,
)
from stom_tui.formatting import format_quantity
from stom_tui.widgets.price_chart_canvas import ChartColors, ChartView, draw_view

REDRAW_INTERVAL_S = 0.25
"""At most four replots a second: plotext takes milliseconds per replot."""


class _ChartPlot(PlotextPlot):
    """A plotext canvas whose figure is drawn afresh, at its current size, on each render."""

    def __init__(self, draw: Callable[[Plot, int, int], Text | None]) -> None:
        super().__init__()
        self._draw = draw
        self.builds = 0
        """Figures drawn and built by plotext (messages shown instead do not count)."""
        self.last_build_ms = 0.0
        """Wall time of the latest figure: drawing it, plotext's build and parsing its text."""

    def render(self) -> RenderResult:
        started = time.perf_counter()
        self._plot = plot = Plot()
        # The theme first: texts take the canvas colour as their background when drawn.
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        width, height = self.size
        message = self._draw(plot, width, height)
        if message is not None:
            return message
        # As PlotextPlot.render sizes it (textual-plotext issue 5), then the figure's cells are
        # read straight into a Text: parsing plotext's ANSI output took most of a replot.
        plot.plotsize(width, height)
        plot._set_size(width, height)
        rendered = figure_text(plot)
        self.builds += 1
        self.last_build_ms = (time.perf_counter() - started) * 1000
        return rendered


def figure_text(plot: Plot) -> Text:
    """The built figure as a Text, made from plotext's cell matrix (one span per colour run).

    Equivalent to ``Text.from_ansi(plot.build())`` (the fallback if plotext's matrix is not
    where it was), several times faster: rich's ANSI parser was most of a replot's cost.
    """
    canvas = plot.build()
    try:
        matrix = getattr(plot, "monitor").matrix  # noqa: B009 (not in textual-plotext's stub)
        markers, foregrounds = matrix.marker, matrix.fullground
        backgrounds, styles = matrix.background, matrix.style
    except AttributeError:
        return Text.from_ansi(canvas)
    pieces: list[str] = []
    spans: list[Span] = []
    offset = 0
    for row in reversed(range(len(markers))):
        line = markers[row]
        start = 0
        for col in range(1, len(line) + 1):
            key = (foregrounds[row][start], styles[row][start], backgrounds[row][start])
            if col < len(line) and key == (
                foregrounds[row][col],
                styles[row][col],
                backgrounds[row][col],
            ):
                continue
            style = _cell_style(key)
            if style is not None:
                spans.append(Span(offset + start, offset + col, style))
            start = col
        pieces.append("".join(line))
        offset += len(line) + 1
    return Text("\n".join(pieces), spans=spans, no_wrap=True, end="")


_STYLES: dict[tuple[object, object, object], Style | None] = {}


def _cell_style(key: tuple[object, object, object]) -> Style | None:
    """The rich style of plotext's (foreground, style, background), parsed once from the very
    escape codes plotext would print."""
    try:
        return _STYLES[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable colour (a list): parse it every time
        return _parse_style(key)
    if len(_STYLES) > 256:
        _STYLES.clear()
    _STYLES[key] = style = _parse_style(key)
    return style


def _parse_style(key: tuple[object, object, object]) -> Style | None:
    foreground, style, background = key
    sample = Text.from_ansi(colors_to_ansi(foreground, style, background) + "x")
    return sample.spans[0].style if sample.spans else None  # type: ignore[return-value]


class PriceChart(Widget):
    """Price chart of the shown instrument, its history kept per instrument (bounded)."""

    DEFAULT_CSS = """
    PriceChart {
        height: 1fr;
    }
    PriceChart > _ChartPlot {
        height: 1fr;
        width: 1fr;
    }
    PriceChart > .price-chart--up { color: $success; }
    PriceChart > .price-chart--down { color: $error; }
    PriceChart > .price-chart--buy { color: $success; }
    PriceChart > .price-chart--sell { color: $error; }
    PriceChart > .price-chart--line { color: $accent; }
    PriceChart > .price-chart--volume-up { color: $success 55%; }
    PriceChart > .price-chart--volume-down { color: $error 55%; }
    PriceChart > .price-chart--message { color: $text-muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "price-chart--up",
        "price-chart--down",
        "price-chart--buy",
        "price-chart--sell",
        "price-chart--line",
        "price-chart--volume-up",
        "price-chart--volume-down",
        "price-chart--message",
    }

    timeframe: reactive[Timeframe] = reactive[Timeframe]("1m", init=False)
    """The mode shown: ``tick`` (a line of trades) or a bar timeframe (candles and volume)."""

    def __init__(
        self,
        *,
        timeframe: Timeframe = "1m",
        redraw_interval: float = REDRAW_INTERVAL_S,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(PriceChart.timeframe, timeframe)
        self.instrument_id: str | None = None
        self.histories = ChartHistory()
        """Every instrument's chart data, so switching back shows it at once."""
        self._grid = AxisUnit(None)
        self._orders: list[OrderRow] = []
        self._redraw_interval = redraw_interval
        self._dirty = True
        self._plot = _ChartPlot(self._draw)
        self._update_title()

    def compose(self) -> ComposeResult:
        yield self._plot

    def on_mount(self) -> None:
        self.set_interval(self._redraw_interval, self.flush, name="price-chart-redraw")

    # --- public API ---------------------------------------------------------------------------

    def show_instrument(self, instrument_id: str | None, info: InstrumentInfo | None) -> None:
        """Show another instrument: what was kept for it shows at once."""
        self.instrument_id = instrument_id
        self._grid = AxisUnit(info)
        self.histories.pinned = instrument_id
        self._update_title()
        self._replot_now()

    def set_trade_history(self, instrument_id: str, trades: list[TradeRow]) -> None:
        """The engine's recent trades for an instrument (oldest first)."""
        self.histories.get(instrument_id).set_trades(trades)
        self._touch(instrument_id)

    def add_trades(self, trades: Trades) -> None:
        """Live trades; the chart redraws on its timer, not per message."""
        if self.histories.get(trades.id).add_trades(trades.trades):
            self._touch(trades.id)

    def update_bar(self, bar: BarUpdate) -> None:
        """A live bar update: closed bars and the forming bar of one timeframe."""
        self.histories.get(bar.id).update_bars(bar.tf, bar.forming, bar.closed)
        self._touch(bar.id)

    def set_bar_history(self, history: BarHistory) -> None:
        """The engine's recent closed bars of one timeframe (oldest first)."""
        self.histories.get(history.id).set_bars(history.tf, history.bars)
        self._touch(history.id)

    def set_orders(self, orders: list[OrderRow]) -> None:
        """All open orders; the shown instrument's working limit orders are drawn as lines."""
        shown = self.instrument_id
        before = working_orders(self._orders, shown) if shown else []
        self._orders = list(orders)
        if shown is not None and working_orders(self._orders, shown) != before:
            self._dirty = True

    def add_fill(self, instrument_id: str, ts_ns: int, price: Decimal, side: str) -> None:
        """One of our fills, marked at its time and price."""
        fill_side: Side = "buy" if side == "buy" else "sell"
        self.histories.get(instrument_id).add_fill(ts_ns, price, fill_side)
        self._touch(instrument_id)

    def cycle_timeframe(self) -> str:
        """Show the next mode: tick → 1s → 1m → 5m → 15m → tick. Returns the new one."""
        self.timeframe = TIMEFRAMES[(TIMEFRAMES.index(self.timeframe) + 1) % len(TIMEFRAMES)]
        return self.timeframe

    def history(self, instrument_id: str) -> InstrumentHistory:
        """What the chart keeps for an instrument (created empty if new)."""
        return self.histories.get(instrument_id)

    def flush(self) -> None:
        """Replot if anything changed since the last replot and the chart is on screen."""
        if self._dirty and self.is_mounted and self.is_on_screen:
            self._dirty = False
            self._plot.refresh()

    # --- internals ----------------------------------------------------------------------------

    def watch_timeframe(self) -> None:
        self._update_title()
        self._replot_now()

    def on_resize(self) -> None:
        self._dirty = True

    def _touch(self, instrument_id: str) -> None:
        if instrument_id == self.instrument_id:
            self._dirty = True

    def _replot_now(self) -> None:
        self._dirty = True
        if self.is_mounted:
            self.flush()

    def _update_title(self) -> None:
        parts = ["Chart", self.instrument_id or "no instrument", self.timeframe]
        self.border_title = " · ".join(parts)

    def _colors(self) -> ChartColors:
        def color(name: str, fallback: str) -> tuple[int, int, int] | str:
            rich_color = self.get_component_rich_style(f"price-chart--{name}").color
            triplet = rich_color.get_truecolor() if rich_color is not None else None
            return (triplet.red, triplet.green, triplet.blue) if triplet is not None else fallback

        return ChartColors(
            up=color("up", "green"),
            down=color("down", "red"),
            buy=color("buy", "green"),
            sell=color("sell", "red"),
            line=color("line", "cyan"),
            volume_up=color("volume-up", "green"),
            volume_down=color("volume-down", "red"),
        )

    @property
    def replots(self) -> int:
        """How many times the figure was drawn and built (conflation is checked against it)."""
        return self._plot.builds

    @property
    def last_replot_ms(self) -> float:
        """Wall time of the latest figure: drawing, plotext's build and parsing its output."""
        return self._plot.last_build_ms

    def _draw(self, plot: Plot, width: int, height: int) -> Text | None:
        """Fill ``plot`` for a ``width`` x ``height`` canvas, or return a message to show."""
        message = self._message()
        history = self.histories.get(self.instrument_id) if self.instrument_id else None
        if message is None and history is not None:
            view = ChartView(
                history=history,
                timeframe=self.timeframe,
                grid=self._grid,
                orders=working_orders(self._orders, history.instrument_id),
                colors=self._colors(),
            )
            message = draw_view(plot, view, width, height)
        self._set_subtitle(self._subtitle(history) if message is None and history else "")
        if message is not None:
            return Text(message, style=self.get_component_rich_style("price-chart--message"))
        return None

    def _message(self) -> str | None:
        if self.instrument_id is None:
            return "Select an instrument to chart it."
        history = self.histories.get(self.instrument_id)
        if self.timeframe == "tick" and not history.ticks:
            return "Waiting for trades…"
        if self.timeframe != "tick" and not history.bars(self.timeframe):
            return f"Waiting for {self.timeframe} bars…"
        return None

    def _subtitle(self, history: InstrumentHistory) -> str:
        """The latest trade, or the latest bar's OHLCV (its close and volume when narrow)."""
        if self.timeframe == "tick":
            last = history.ticks[-1]
            unit = self._grid.unit_at(last.price, [last.price])
            return f"last {price_label(last.price, unit)} · size {format_quantity(str(last.size))}"
        bar = history.bars(self.timeframe)[-1]
        unit = self._grid.unit_at(bar.close, [bar.open, bar.high, bar.low, bar.close])
        volume = format_quantity(str(bar.volume))
        text = (
            f"O {price_label(bar.open, unit)} H {price_label(bar.high, unit)} "
            f"L {price_label(bar.low, unit)} C {price_label(bar.close, unit)} V {volume}"
        )
        if len(text) > self.size.width - 6:
            text = f"C {price_label(bar.close, unit)} V {volume}"
        return text

    def _set_subtitle(self, text: str) -> None:
        if text != self.border_subtitle:
            self.border_subtitle = text
