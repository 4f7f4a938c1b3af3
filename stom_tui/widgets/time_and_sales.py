"""Time & sales (the tape): the selected instrument's latest trades, newest on top."""

from __future__ import annotations

import statistics
from collections import Counter, deque
from decimal import Decimal
from typing import ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.protocol.payloads import InstrumentInfo, TradeRow, Trades
from stom_tui.formatting import format_clock, format_price, format_size, parse_decimal

REDRAW_INTERVAL_S = 0.1
"""At most ten redraws a second, however fast trades arrive (and none while nothing changed)."""
TAPE_ROWS = 500
"""Trades kept: more than any pane shows."""
LARGE_WINDOW = 500
"""Recent trade sizes the "large print" threshold is taken from."""
LARGE_MULTIPLE = Decimal(5)
"""A trade at least this many times the median recent size is a large print."""
LARGE_MIN_SAMPLE = 20
"""Fewer recent sizes than this say nothing about what is large: nothing is highlighted."""
SIDE_MARK = {"buy": "▲", "sell": "▼"}
"""The aggressor told by a mark as well as a colour."""
_KeyOf = tuple[int, str, str, str]


class TapeRow(NamedTuple):
    """One trade as the tape holds it (``large`` is judged once, when it arrives)."""

    ts_event: int
    price: str
    size: str
    side: str
    large: bool


def _key(row: TradeRow) -> _KeyOf:
    return (row.ts_event, row.price, row.size, row.side)


class TimeAndSales(Widget):
    """The last trades that fit the pane: time, aggressor mark, price, size; newest on top.

    Buys are drawn in the theme's success colour with ``▲``, sells in its error colour with
    ``▼``. A **large print** (size at least :data:`LARGE_MULTIPLE` times the median of the last
    :data:`LARGE_WINDOW` trade sizes, once :data:`LARGE_MIN_SAMPLE` are known; each trade is
    judged against the trades before it) is drawn bold and reversed. Trades are buffered as they
    arrive and drawn on a timer, at most every :data:`REDRAW_INTERVAL_S` and only when something
    changed, so a burst of any rate costs at most ten redraws a second and never flickers. The
    time column shrinks (``HH:MM:SS.mmm``, ``HH:MM:SS``, ``MM:SS``, none) to keep price and size
    whole in a narrow pane. Times are local, as everywhere in the console.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "time-and-sales--header",
        "time-and-sales--time",
        "time-and-sales--buy",
        "time-and-sales--sell",
        "time-and-sales--large",
        "time-and-sales--muted",
    }

    DEFAULT_CSS = """
    TimeAndSales {
        min-width: 20;
        min-height: 3;
    }
    TimeAndSales > .time-and-sales--header {
        color: $text-muted;
        text-style: bold;
    }
    TimeAndSales > .time-and-sales--time {
        color: $text-muted;
    }
    TimeAndSales > .time-and-sales--buy {
        color: $success;
    }
    TimeAndSales > .time-and-sales--sell {
        color: $error;
    }
    TimeAndSales > .time-and-sales--large {
        text-style: bold reverse;
    }
    TimeAndSales > .time-and-sales--muted {
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Trades"
        self.instrument_id: str | None = None
        self._info: InstrumentInfo | None = None
        self.tape: deque[TapeRow] = deque(maxlen=TAPE_ROWS)
        """Trades shown, oldest first."""
        self._sizes: deque[Decimal] = deque(maxlen=LARGE_WINDOW)
        self._threshold: Decimal | None = None
        self._pending: list[TradeRow] = []
        self._skipped = 0
        # After a history load: live trades up to the history's newest time are already shown.
        self._watermark: int | None = None
        self._overlap: Counter[_KeyOf] = Counter()
        self._dirty = True
        self.redraws = 0
        """Times the pane was redrawn because its trades changed (for tests and benchmarks)."""

    def on_mount(self) -> None:
        self.set_interval(REDRAW_INTERVAL_S, self.flush, name="time-and-sales-redraw")

    # --- data ---------------------------------------------------------------------------------

    def show_instrument(self, instrument_id: str | None, info: InstrumentInfo | None) -> None:
        """Follow another instrument (its trades start empty until history or trades arrive)."""
        self._info = info
        if instrument_id != self.instrument_id:
            self.instrument_id = instrument_id
            self._clear()
            self.border_title = f"Trades · {instrument_id}" if instrument_id else "Trades"
        self._dirty = True

    def set_history(self, instrument_id: str, trades: list[TradeRow]) -> None:
        """Put ``trades`` (oldest first, e.g. from ``md.history``) under the tape; live trades
        newer than the history's newest, shown or still buffered, stay on top of it."""
        if instrument_id != self.instrument_id:
            return  # an answer that arrived after the user moved on
        # Live trades can arrive between the request and its answer: keep what is newer.
        newest_known = trades[-1].ts_event if trades else -1
        shown = [row for row in self.tape if row.ts_event > newest_known]
        pending = [row for row in self._pending if row.ts_event > newest_known]
        self._clear()
        sizes = [parse_decimal(row.size) for row in trades]
        known = [size for size in sizes[-LARGE_WINDOW:] if size is not None]
        self._sizes.extend(known)
        for live in shown:
            live_size = parse_decimal(live.size)
            if live_size is not None:
                self._sizes.append(live_size)
        self._threshold = self._large_threshold()
        for row, size in zip(trades, sizes, strict=True):
            self.tape.append(self._tape_row(row, size))
        if trades:
            newest = trades[-1].ts_event
            self._watermark = newest
            self._overlap = Counter(_key(row) for row in trades if row.ts_event == newest)
        self.tape.extend(shown)
        self._pending = pending
        self._dirty = True

    def add_trades(self, trades: Trades) -> None:
        """Buffer live trades of the followed instrument (others are ignored); drawn later."""
        if trades.id != self.instrument_id:
            return
        pending = self._pending
        pending.extend(trades.trades)
        if len(pending) > 2 * TAPE_ROWS:
            # Redraws stalled (a busy frame): older trades would scroll off the tape unseen.
            del pending[:-TAPE_ROWS]
        self._skipped += trades.skipped
        self._dirty = True

    def _clear(self) -> None:
        self.tape.clear()
        self._sizes.clear()
        self._threshold = None
        self._pending.clear()
        self._skipped = 0
        self._watermark = None
        self._overlap.clear()

    def _ingest(self) -> None:
        """Move buffered trades onto the tape, judged against the sizes seen before them."""
        pending, self._pending = self._pending, []
        for row in pending:
            if self._already_shown(row):
                continue
            size = parse_decimal(row.size)
            self.tape.append(self._tape_row(row, size))
            if size is not None:
                self._sizes.append(size)
        self._threshold = self._large_threshold()

    def _already_shown(self, row: TradeRow) -> bool:
        watermark = self._watermark
        if watermark is None:
            return False
        if row.ts_event < watermark:
            return True
        key = _key(row)
        if row.ts_event == watermark and self._overlap[key] > 0:
            self._overlap[key] -= 1
            return True
        if row.ts_event > watermark:
            self._watermark = None
        return False

    def _tape_row(self, row: TradeRow, size: Decimal | None) -> TapeRow:
        threshold = self._threshold
        large = threshold is not None and size is not None and size >= threshold
        return TapeRow(row.ts_event, row.price, row.size, row.side, large)

    def _large_threshold(self) -> Decimal | None:
        if len(self._sizes) < LARGE_MIN_SAMPLE:
            return None
        median = statistics.median(self._sizes)
        return median * LARGE_MULTIPLE if median > 0 else None

    # --- drawing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Take buffered trades and redraw, if anything changed since the last redraw."""
        if not self._dirty or not self.is_mounted:
            return
        self._dirty = False
        self._ingest()
        self.border_subtitle = f"{self._skipped:,} skipped" if self._skipped else ""
        self.redraws += 1
        self.refresh()

    def render(self) -> Text:
        if not self.tape:
            message = "waiting for trades…" if self.instrument_id else "no instrument"
            return Text(message, style=self._style("muted"), justify="center", end="")
        width, height = self.content_size.width, self.content_size.height
        count = max(0, height - 1)
        rows = [self.tape[-1 - n] for n in range(min(count, len(self.tape)))]
        prices = [format_price(row.price, self._info) for row in rows]
        sizes = [format_size(row.size, self._info) for row in rows]
        price_w = max([len(text) for text in prices] + [len("Price")])
        size_w = max([len(text) for text in sizes] + [len("Size")])
        time_w = _time_width(width - (price_w + size_w + 3))
        styles = {name: self._style(name) for name in ("time", "buy", "sell", "large")}
        lines = [self._header(time_w, price_w, size_w)]
        for row, price, size in zip(rows, prices, sizes, strict=True):
            cells = (f"{price:>{price_w}}", f"{size:>{size_w}}")
            lines.append(_line(row, time_w, cells, styles))
        return Text("\n").join(lines)

    def _header(self, time_w: int, price_w: int, size_w: int) -> Text:
        time = f"{'Time':<{time_w}} " if time_w else ""
        return Text(
            f"{time}  {'Price':>{price_w}} {'Size':>{size_w}}",
            style=self._style("header"),
            no_wrap=True,
            overflow="crop",
        )

    def _style(self, name: str) -> Style:
        """A component's text style; its colour blended as drawn (a partial style would draw
        ``$text-muted`` at full strength), its background left to the pane."""
        partial = self.get_component_rich_style(f"time-and-sales--{name}", partial=True)
        if partial.color is None:
            return partial
        blended = self.get_component_rich_style(f"time-and-sales--{name}")
        return partial + Style(color=blended.color)


_TIME_WIDTHS = (12, 8, 5)
"""``HH:MM:SS.mmm``, ``HH:MM:SS``, ``MM:SS``."""


def _line(row: TapeRow, time_w: int, cells: tuple[str, str], styles: dict[str, Style]) -> Text:
    price, size = cells
    side_style = styles["buy" if row.side == "buy" else "sell"]
    text = Text(no_wrap=True, overflow="crop")
    if time_w:
        text.append(f"{_clock(row.ts_event, time_w)} ", styles["time"])
    text.append(f"{SIDE_MARK.get(row.side, '?')} {price} {size}", side_style)
    if row.large:
        text.stylize(styles["large"])
    return text


def _time_width(room: int) -> int:
    """The widest time format that fits in ``room`` columns (with its gap), or 0 for none."""
    return next((width for width in _TIME_WIDTHS if width + 1 <= room), 0)


def _clock(ts_ns: int, width: int) -> str:
    if width == 12:
        return format_clock(ts_ns, millis=True)
    text = format_clock(ts_ns)
    return text if width == 8 else text[3:]
