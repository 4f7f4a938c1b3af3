"""Draws one frame of the price chart onto a plotext figure, in canvas cells.

plotext is used as a canvas with axes: x and y limits are set so that one unit is one cell
(column ``x``, row ``y`` counted from the bottom), and the chart places every candle body, wick,
volume bar, order line and fill marker in a cell itself. Axis labels are set explicitly from
exact prices (:mod:`stom_tui.chart_axes`). Drawing is grouped by marker and colour, a handful of
plotext calls per frame whatever the number of bars.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from textual_plotext.plot import Plot

from stom_tui.chart_axes import (
    AxisUnit,
    PriceScale,
    compact_volume,
    padded_range,
    price_label,
    price_levels,
    time_marks,
)
from stom_tui.chart_series import (
    TIMEFRAME_NS,
    Bar,
    InstrumentHistory,
    OrderMark,
    Tick,
    Timeframe,
)

PlotColor = tuple[int, int, int] | str
MIN_WIDTH = 20
MIN_ROWS = 4
WIDE_COLUMNS = 60
"""From this many canvas columns, candles stand two columns apart (a gap between each)."""
_VOLUME_EIGHTHS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class ChartColors:
    """Colours (RGB or plotext names) for the chart's elements."""

    up: PlotColor
    down: PlotColor
    buy: PlotColor
    sell: PlotColor
    line: PlotColor
    volume_up: PlotColor
    volume_down: PlotColor


@dataclass(frozen=True, slots=True)
class ChartView:
    """What one frame shows."""

    history: InstrumentHistory
    timeframe: Timeframe
    grid: AxisUnit
    orders: Sequence[OrderMark]
    colors: ChartColors


@dataclass(slots=True)
class _Column:
    """One drawn column: a bar, or the ticks that fall in it (tick mode)."""

    x: float
    ts_ns: int
    bar: Bar


@dataclass(slots=True)
class _Cells:
    """Cells to draw, grouped by (marker, colour) so each group is one plotext call."""

    groups: dict[tuple[str, PlotColor], tuple[list[float], list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: ([], []))
    )

    def add(self, marker: str, color: PlotColor, x: float, y: float) -> None:
        xs, ys = self.groups[(marker, color)]
        xs.append(x)
        ys.append(y)

    def draw(self, plot: Plot) -> None:
        for (marker, color), (xs, ys) in self.groups.items():
            plot.scatter(xs, ys, marker=marker, color=color)


def draw_view(plot: Plot, view: ChartView, width: int, height: int) -> str | None:
    """Draw ``view`` on ``plot`` for a ``width`` x ``height`` area; a message if it cannot."""
    rows = height - 2  # the x axis and its labels take two rows
    if rows < MIN_ROWS or width < MIN_WIDTH:
        return "Too small for a chart"
    tick_mode = view.timeframe == "tick"
    candidates = _candidate_columns(view, width)
    if not candidates:
        return "No data"
    # Candles get volume bars underneath; the tick line keeps every row (the tape has sizes).
    volume_rows = 0 if rows < 7 or tick_mode else max(2, rows // 5)
    layout = _layout(view, candidates, width, rows, volume_rows)
    columns, scale, cols = layout.columns, layout.scale, layout.cols

    _frame(plot, cols, rows)
    cells = _Cells()
    _order_lines(plot, cells, view, layout.inside, layout.outside, scale, cols)
    if volume_rows:
        _volume(cells, view, columns, volume_rows)
    if tick_mode:
        _tick_line(plot, view, scale, columns)
    else:
        _candles(cells, view.colors, scale, columns, wide=cols >= WIDE_COLUMNS)
    cells.draw(plot)
    _fills(plot, view, scale, columns, tick_mode)

    plot.yticks(layout.y_ticks, layout.y_labels)
    seconds = view.timeframe in ("tick", "1s")
    points = [(column.x, column.ts_ns) for column in columns]
    marks = time_marks(points, 10 if seconds else 7, seconds=seconds)
    plot.xticks([x for x, _ in marks], [label for _, label in marks])
    return None


@dataclass(slots=True)
class _Layout:
    """Where everything goes: canvas columns, the columns shown, the price scale, the axis."""

    cols: int
    columns: list[_Column]
    scale: PriceScale
    inside: list[OrderMark]
    outside: list[OrderMark]
    y_ticks: list[float]
    y_labels: list[str]


def _layout(
    view: ChartView, candidates: list[_Column], width: int, rows: int, volume_rows: int
) -> _Layout:
    """Fit the newest columns beside the price axis.

    The axis labels' width decides how many columns fit, and the columns shown decide the
    labels: start from the widest label any candidate could need and widen once more if the
    shown columns' labels turn out wider (each pass only widens, so this ends).
    """
    tick_mode = view.timeframe == "tick"
    price_bottom = volume_rows + (1 if rows >= 14 else 0) if volume_rows else 0
    low, high, unit = _range(view, candidates)
    low, high, _, _ = _with_orders(low, high, unit, view.orders)
    label_width = max(len(price_label(low, unit)), len(price_label(high, unit)))
    while True:
        cols = max(width - label_width - 1, 1)
        columns = _visible(candidates, cols, tick_mode)
        low, high, unit = _range(view, columns)
        low, high, inside, outside = _with_orders(low, high, unit, view.orders)
        low, high = padded_range(low, high, unit)
        scale = PriceScale(low, high, price_bottom, rows - 1)
        level_gap = 2 if scale.top - scale.bottom < 10 else 3  # rows between price labels
        max_levels = max(2, (scale.top - scale.bottom) // level_gap + 1)
        levels = _with_ends(price_levels(low, high, unit, max_levels), scale, unit, level_gap)
        y_ticks = [scale.row(level) for level in levels]
        y_labels = [price_label(level, unit) for level in levels]
        if volume_rows:
            y_ticks.append(volume_rows - 1)
            y_labels.append(_volume_label(max(column.bar.volume for column in columns)))
        needed = max(map(len, y_labels), default=0)
        if needed <= label_width:
            break
        label_width = needed
    labels = [label.rjust(label_width) for label in y_labels]
    return _Layout(cols, columns, scale, inside, outside, y_ticks, labels)


def _with_ends(levels: list[Decimal], scale: PriceScale, unit: Decimal, gap: int) -> list[Decimal]:
    """At least two labels where they fit: with one round level (or none), the range's ends on
    the grid are labelled too, if ``gap`` rows clear of the others."""
    if len(levels) >= 2:
        return levels
    kept = list(levels)
    top = (scale.high / unit).to_integral_value(rounding=ROUND_FLOOR) * unit
    bottom = (scale.low / unit).to_integral_value(rounding=ROUND_CEILING) * unit
    for end in (top, bottom):
        rows_away = [abs(scale.row(end) - scale.row(level)) for level in kept]
        if scale.contains(end) and all(distance >= gap for distance in rows_away):
            kept.append(end)
    return sorted(kept) or [scale.low, scale.high]


def _frame(plot: Plot, cols: int, rows: int) -> None:
    """One unit per cell: column ``x`` and row ``y`` land exactly in cell (x, y)."""
    plot.xaxes(True, False)
    plot.yaxes(True, False)
    plot.xlim(-0.5, cols - 0.5)
    plot.ylim(-0.5, rows - 0.5)


def _candidate_columns(view: ChartView, width: int) -> list[_Column]:
    """Enough of the newest data to fill ``width`` columns (x not yet placed)."""
    if view.timeframe == "tick":
        ticks = list(view.history.ticks)[-2 * width :]
        return [_Column(0, tick.ts_ns, _tick_bar(tick)) for tick in ticks]
    bars = view.history.bars(view.timeframe)[-width:]
    return [_Column(0, bar.ts_open, bar) for bar in bars]


def _visible(candidates: list[_Column], cols: int, tick_mode: bool) -> list[_Column]:
    """The newest columns that fit, placed left to right (few bars stay at the left)."""
    if tick_mode:
        shown = candidates[-2 * cols :]  # braille: two points per column
        spacing = 0.5
    else:
        spacing = 2 if cols >= WIDE_COLUMNS else 1
        shown = candidates[-((cols + spacing - 1) // spacing) :]
    for index, column in enumerate(shown):
        column.x = index * spacing
    return shown


def _tick_bar(tick: Tick) -> Bar:
    return Bar(tick.ts_ns, tick.price, tick.price, tick.price, tick.price, tick.size, 1)


def _range(view: ChartView, columns: Sequence[_Column]) -> tuple[Decimal, Decimal, Decimal]:
    low = min(column.bar.low for column in columns)
    high = max(column.bar.high for column in columns)
    unit = view.grid.unit_at(high, [value for column in columns[-50:] for value in _ohlc(column)])
    return low, high, unit


def _ohlc(column: _Column) -> tuple[Decimal, ...]:
    bar = column.bar
    return bar.open, bar.high, bar.low, bar.close


def _with_orders(
    low: Decimal, high: Decimal, unit: Decimal, orders: Sequence[OrderMark]
) -> tuple[Decimal, Decimal, list[OrderMark], list[OrderMark]]:
    """The range widened for working orders near it (at most one span each side); orders
    further away are listed to be flagged at the edge instead of squashing the chart."""
    span = max(high - low, 10 * unit)
    inside = [order for order in orders if low - span <= order.price <= high + span]
    outside = [order for order in orders if order not in inside]
    prices = [order.price for order in inside]
    return min([low, *prices]), max([high, *prices]), inside, outside


def _order_lines(
    plot: Plot,
    cells: _Cells,
    view: ChartView,
    inside: Sequence[OrderMark],
    outside: Sequence[OrderMark],
    scale: PriceScale,
    cols: int,
) -> None:
    colors = view.colors
    for order in inside:
        color = colors.buy if order.side == "buy" else colors.sell
        row = scale.cell(order.price)
        for x in range(cols):
            cells.add("╌", color, x, row)
        label = f"{'B' if order.side == 'buy' else 'S'} {_quantity(order.remaining)}"
        plot.text(label, cols - 1, row, color=color, alignment="right")
    for order in outside:
        color = colors.buy if order.side == "buy" else colors.sell
        arrow, row = ("↑", scale.top) if order.price > scale.high else ("↓", scale.bottom)
        unit = view.grid.unit_at(order.price, [order.price])
        side = "B" if order.side == "buy" else "S"
        label = f"{arrow}{side} {_quantity(order.remaining)} @ {price_label(order.price, unit)}"
        plot.text(label, cols - 1, row, color=color, alignment="right")


def _volume_label(peak: Decimal) -> str:
    """The volume axis' one label, at the top of the band: the tallest bar's volume."""
    return f"V {compact_volume(peak)}"


def _quantity(value: Decimal) -> str:
    return compact_volume(value) if value >= 1000 else f"{value.normalize():f}"


def _candles(
    cells: _Cells, colors: ChartColors, scale: PriceScale, columns: Sequence[_Column], *, wide: bool
) -> None:
    """Wicks ``│``; bodies ``█`` with a gap column between candles, else a heavy ``┃`` so that
    neighbouring candles stay apart."""
    filled = "█" if wide else "┃"
    for column in columns:
        bar = column.bar
        color = colors.down if bar.close < bar.open else colors.up
        body_low, body_high = (
            scale.cell(min(bar.open, bar.close)),
            scale.cell(max(bar.open, bar.close)),
        )
        body = "━" if bar.open == bar.close else filled
        for row in range(scale.cell(bar.low), scale.cell(bar.high) + 1):
            cells.add(body if body_low <= row <= body_high else "│", color, column.x, row)


def _volume(cells: _Cells, view: ChartView, columns: Sequence[_Column], rows: int) -> None:
    """Volume bars in the bottom ``rows``, to eighths of a row."""
    peak = max((column.bar.volume for column in columns), default=Decimal(0))
    if peak <= 0:
        return
    for column in columns:
        x, bar = column.x, column.bar
        color = view.colors.volume_down if bar.close < bar.open else view.colors.volume_up
        eighths = max(1, round(bar.volume / peak * rows * 8)) if bar.volume > 0 else 0
        for row in range(rows):
            filled = min(max(eighths - row * 8, 0), 8)
            if filled:
                cells.add(_VOLUME_EIGHTHS[filled], color, x, row)


def _tick_line(plot: Plot, view: ChartView, scale: PriceScale, columns: Sequence[_Column]) -> None:
    xs = [column.x for column in columns]
    ys = [scale.row(column.bar.close) for column in columns]
    if len(columns) == 1:
        plot.scatter(xs, ys, marker="●", color=view.colors.line)
    else:
        plot.plot(xs, ys, marker="braille", color=view.colors.line)


def _fills(
    plot: Plot, view: ChartView, scale: PriceScale, columns: Sequence[_Column], tick_mode: bool
) -> None:
    """Our fills as ▲ (buy) / ▼ (sell) at their price, in the column of their time."""
    if not columns:
        return
    length = 1 if tick_mode else TIMEFRAME_NS[view.timeframe]
    end = columns[-1].ts_ns + length if not tick_mode else columns[-1].ts_ns + 1
    fills = view.history.fills_between(columns[0].ts_ns, end)
    starts = [column.ts_ns for column in columns]
    for side, marker, color in (("buy", "▲", view.colors.buy), ("sell", "▼", view.colors.sell)):
        xs: list[float] = []
        ys: list[float] = []
        for fill in fills:
            if fill.side != side:
                continue
            index = _last_at_or_before(starts, fill.ts_ns)
            xs.append(int(columns[index].x))
            ys.append(scale.cell(fill.price))
        if xs:
            plot.scatter(xs, ys, marker=marker, color=color)


def _last_at_or_before(starts: Sequence[int], ts_ns: int) -> int:
    return max(bisect_right(starts, ts_ns) - 1, 0)
