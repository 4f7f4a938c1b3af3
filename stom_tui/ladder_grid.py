"""The price ladder's arithmetic: a fixed grid of prices, the window of it on screen, the cursor,
and the book and own orders placed on the grid (pure: no Textual, exact raw integers).

Prices are raw integers at the instrument's ``price_precision`` on its
:class:`~engine.domain.tick_table.TickTable`, exactly as the order ticket and the engine check
them, so a step across a band edge (KRX 1,995 -> 2,000 -> 2,005) uses the tick of the band it
lands in, and the price the ladder sends is a price the engine accepts.

The window is kept by :class:`LadderWindow`: it is centred on the touch when first shown and on
:meth:`LadderWindow.recenter`; it does not move by itself while the best bid and best ask stay on
the visible rows (rows never jump under the cursor), and re-centres when the touch leaves them,
unless the user has scrolled the touch out of view with the cursor (then it waits for a
re-centre).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from engine.domain.fixed_point import PrecisionError, to_raw
from engine.protocol.payloads import BookSnapshot
from engine.protocol.trading import OPEN_STATUSES, OrderRow
from stom_tui.formatting import decimal_places, format_decimal, parse_decimal
from stom_tui.price_grid import PriceGrid


class LadderWindow:
    """The rows on screen (a centre price and a row count) and the cursor on them.

    The centre row is ``rows // 2`` from the top. See the module docstring for when it moves.
    """

    def __init__(self, grid: PriceGrid) -> None:
        self.grid = grid
        self.rows = 0
        self.centre: int | None = None
        self.cursor: int | None = None
        self.following = True
        """False while the user has scrolled the touch out of view: no automatic re-centring."""
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self._column: tuple[int | None, int, list[int]] = (None, 0, [])
        """(centre, rows, prices): the last column, reused until either changes."""

    def prices(self) -> list[int]:
        """The prices on the rows, top (highest) first (a list to read, not to change)."""
        centre, rows, prices = self._column
        if centre != self.centre or rows != self.rows:
            prices = []
            if self.centre is not None and self.rows > 0:
                top = self.grid.step(self.centre, self.rows // 2)
                prices = self.grid.column(top, self.rows)
            self._column = (self.centre, self.rows, prices)
        return prices

    def shows(self, raw: int) -> bool:
        prices = self.prices()
        return bool(prices) and prices[-1] <= raw <= prices[0]

    def touch_in_view(self) -> bool:
        return all(price is None or self.shows(price) for price in (self.best_bid, self.best_ask))

    def resize(self, rows: int) -> None:
        """Show ``rows`` rows around the same centre price."""
        self.rows = max(0, rows)
        self._follow()

    def update_touch(self, best_bid: int | None, best_ask: int | None) -> bool:
        """The book's best prices moved; True when the window re-centred."""
        self.best_bid, self.best_ask = best_bid, best_ask
        return self._follow()

    def recenter(self) -> bool:
        """Centre on the touch, put the cursor there and follow the touch again; False (and no
        change) when the book is empty."""
        centre = self.grid.touch_centre(self.best_bid, self.best_ask)
        if centre is None:
            return False
        self.centre = self.cursor = centre
        self.following = True
        return True

    def move_cursor(self, steps: int) -> None:
        """Move the cursor ``steps`` ticks, scrolling just enough to keep it on screen."""
        if self.cursor is None or self.centre is None:
            return
        self.cursor = self.grid.step(self.cursor, steps)
        prices = self.prices()
        if not prices or self.shows(self.cursor):
            return
        above_centre = self.rows // 2
        if self.cursor > prices[0]:
            self.centre = self.grid.step(self.cursor, -above_centre)
        else:
            self.centre = self.grid.step(self.cursor, self.rows - 1 - above_centre)
        self.following = self.touch_in_view()

    def _follow(self) -> bool:
        if self.centre is None:
            return self.recenter()
        if self.following and not self.touch_in_view():
            centre = self.grid.touch_centre(self.best_bid, self.best_ask)
            if centre is not None and centre != self.centre:
                self.centre = centre
                self._keep_cursor_on_screen()
                return True
        self._keep_cursor_on_screen()
        return False

    def _keep_cursor_on_screen(self) -> None:
        """A cursor pushed off screen stops at the nearest edge row (never jumps to the touch)."""
        prices = self.prices()
        if not prices:
            return
        if self.cursor is None:
            self.cursor = self.centre
        elif self.cursor > prices[0]:
            self.cursor = prices[0]
        elif self.cursor < prices[-1]:
            self.cursor = prices[-1]


@dataclass(frozen=True, slots=True)
class SideDepth:
    """One side of the book on the grid: size per price and the cumulative size from the touch
    outward (best level first)."""

    sizes: dict[int, Decimal] = field(default_factory=dict)
    totals: dict[int, Decimal] = field(default_factory=dict)
    best: int | None = None


def side_depth(levels: Iterable[tuple[str, str]], grid: PriceGrid, *, bids: bool) -> SideDepth:
    """Sizes of ``levels`` by raw price (duplicates summed, unreadable or empty levels left out)
    and their running totals from the best price outward."""
    sizes: dict[int, Decimal] = {}
    for price_text, size_text in levels:
        price, size = parse_decimal(price_text), parse_decimal(size_text)
        if price is None or size is None or size <= 0:
            continue
        try:
            raw = to_raw(price, grid.precision)
        except PrecisionError:
            continue
        sizes[raw] = sizes.get(raw, Decimal(0)) + size
    totals: dict[int, Decimal] = {}
    running = Decimal(0)
    for raw in sorted(sizes, reverse=bids):
        running += sizes[raw]
        totals[raw] = running
    best = (max(sizes) if bids else min(sizes)) if sizes else None
    return SideDepth(sizes=sizes, totals=totals, best=best)


@dataclass(frozen=True, slots=True)
class BookDepth:
    bids: SideDepth = field(default_factory=SideDepth)
    asks: SideDepth = field(default_factory=SideDepth)


def book_depth(book: BookSnapshot, grid: PriceGrid) -> BookDepth:
    return BookDepth(
        bids=side_depth(book.bids, grid, bids=True), asks=side_depth(book.asks, grid, bids=False)
    )


@dataclass(frozen=True, slots=True)
class OwnOrders:
    """The user's open limit orders on the grid: remaining quantity per price and side, and the
    ids a cancel at that price would send (orders already pending cancel are left out)."""

    buy: dict[int, Decimal] = field(default_factory=dict)
    sell: dict[int, Decimal] = field(default_factory=dict)
    cancellable: dict[int, list[str]] = field(default_factory=dict)

    def at(self, raw: int) -> list[str]:
        return list(self.cancellable.get(raw, []))

    def working_at(self, raw: int) -> bool:
        return raw in self.buy or raw in self.sell


def own_orders(orders: Iterable[OrderRow], instrument_id: str, grid: PriceGrid) -> OwnOrders:
    """Open limit orders of ``instrument_id`` with something left to fill, by raw price."""
    buy: dict[int, Decimal] = {}
    sell: dict[int, Decimal] = {}
    cancellable: dict[int, list[str]] = {}
    for order in orders:
        if order.instrument_id != instrument_id or order.status not in OPEN_STATUSES:
            continue
        price = parse_decimal(order.price)
        quantity, filled = parse_decimal(order.quantity), parse_decimal(order.filled)
        if price is None or quantity is None:
            continue
        remaining = quantity - (filled or Decimal(0))
        if remaining <= 0:
            continue
        try:
            raw = to_raw(price, grid.precision)
        except PrecisionError:
            continue
        side = buy if order.side == "buy" else sell
        side[raw] = side.get(raw, Decimal(0)) + remaining
        if order.status != "pending_cancel":
            cancellable.setdefault(raw, []).append(order.client_order_id)
    return OwnOrders(buy=buy, sell=sell, cancellable=cancellable)


@dataclass(frozen=True, slots=True)
class LadderRow:
    """What one price row shows (None: an empty cell)."""

    price: int
    bid: Decimal | None
    bid_total: Decimal | None
    ask: Decimal | None
    ask_total: Decimal | None
    own_buy: Decimal | None
    own_sell: Decimal | None


def ladder_rows(prices: Sequence[int], depth: BookDepth, own: OwnOrders) -> list[LadderRow]:
    """The rows for ``prices``: empty price levels are rows too (the grid never skips)."""
    return [
        LadderRow(
            price=price,
            bid=depth.bids.sizes.get(price),
            bid_total=depth.bids.totals.get(price),
            ask=depth.asks.sizes.get(price),
            ask_total=depth.asks.totals.get(price),
            own_buy=own.buy.get(price),
            own_sell=own.sell.get(price),
        )
        for price in prices
    ]


FULL_COLUMNS: tuple[str, ...] = (
    "own_buy",
    "bid_total",
    "bid",
    "price",
    "ask",
    "ask_total",
    "own_sell",
)
"""Every column, when the width allows: own buys at the far left, own sells at the far right."""
COMPACT_COLUMNS: tuple[str, ...] = ("own_buy", "bid_total", "price", "ask_total", "own_sell")
"""Narrow panes (80x24): the cumulative size replaces the size per level, so no column drops."""
HEADERS = {
    "own_buy": "Own",
    "bid_total": "Total",
    "bid": "Bid",
    "price": "Price",
    "ask": "Ask",
    "ask_total": "Total",
    "own_sell": "Own",
}
COMPACT_HEADERS = {**HEADERS, "bid_total": "ΣBid", "ask_total": "ΣAsk"}


@dataclass(frozen=True, slots=True)
class LadderLayout:
    """Columns chosen for a width, and every row's cells as right-aligned text."""

    columns: tuple[str, ...]
    headers: tuple[str, ...]
    widths: tuple[int, ...]
    gap: int
    cells: list[tuple[str, ...]]
    """Per row, in column order, each padded to its column's width."""

    @property
    def width(self) -> int:
        return sum(self.widths) + self.gap * (len(self.widths) - 1)


def lay_out(rows: Sequence[LadderRow], grid: PriceGrid, width: int) -> LadderLayout:
    """The widest layout that fits ``width``: every column with two-space gaps, then one-space
    gaps, then :data:`COMPACT_COLUMNS`, then sizes with fewer decimals (rounded half-even, for
    display only). Prices are never shortened; when even the last try is too wide the caller
    crops the right edge."""
    prices = [grid.price(row.price) for row in rows]
    price_places = max((decimal_places(price) for price in prices), default=0)
    sizes = [
        value
        for row in rows
        for value in (row.bid, row.bid_total, row.ask, row.ask_total)
        if value is not None
    ]
    size_places = max((decimal_places(size) for size in sizes), default=0)
    own = [value for row in rows for value in (row.own_buy, row.own_sell) if value is not None]
    own_places = max((decimal_places(quantity) for quantity in own), default=0)
    texts = {
        "price": [_number(price, price_places) for price in prices],
        "own_buy": [_number(row.own_buy, own_places) for row in rows],
        "own_sell": [_number(row.own_sell, own_places) for row in rows],
    }
    tries = [(FULL_COLUMNS, size_places, 2), (FULL_COLUMNS, size_places, 1)]
    tries += [(COMPACT_COLUMNS, size_places, 2)]
    tries += [(COMPACT_COLUMNS, places, 1) for places in range(size_places, -1, -1)]
    layout = None
    for columns, places, gap in tries:
        layout = _layout(rows, columns, places, gap, texts)
        if layout.width <= width:
            return layout
    assert layout is not None
    return layout


def _layout(
    rows: Sequence[LadderRow],
    columns: tuple[str, ...],
    places: int,
    gap: int,
    texts: dict[str, list[str]],
) -> LadderLayout:
    headers = COMPACT_HEADERS if columns is COMPACT_COLUMNS else HEADERS
    by_column = dict(texts)
    for name in ("bid", "bid_total", "ask", "ask_total"):
        if name in columns:
            by_column[name] = [_number(getattr(row, name), places) for row in rows]
    widths = tuple(
        max([len(headers[name])] + [len(text) for text in by_column[name]]) for name in columns
    )
    cells = [
        tuple(f"{by_column[name][index]:>{w}}" for name, w in zip(columns, widths, strict=True))
        for index in range(len(rows))
    ]
    return LadderLayout(
        columns=columns,
        headers=tuple(headers[name] for name in columns),
        widths=widths,
        gap=gap,
        cells=cells,
    )


def _number(value: Decimal | None, places: int) -> str:
    """Thousands separators and exactly ``places`` decimals (rounded half-even when fewer than
    the value has); empty for no value."""
    if value is None:
        return ""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return format_decimal(rounded, places)
