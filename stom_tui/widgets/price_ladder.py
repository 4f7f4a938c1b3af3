"""The price ladder a scalper trades from (STOM's 호가창): a fixed price grid with the book, the
user's own working orders and position on it, and a cursor to order at.

The grid is every valid price at the instrument's tick (empty levels are rows too), so rows never
jump as levels come and go. The window is centred on the touch when the book first shows and on
``z``; it does not re-centre by itself while the best bid and best ask stay on the visible rows,
and re-centres when the touch leaves them (the cursor keeps its price, or stops at the nearest
edge row if that price scrolled away). Moving the cursor past an edge scrolls the window; while
that hides the touch the window stays where the user put it until ``z``
(:mod:`stom_tui.ladder_grid` holds these rules and the arithmetic).

Columns, left to right: own buy orders' remaining quantity, cumulative bid size, bid size, price,
ask size, cumulative ask size, own sell orders' remaining quantity. Where that is too wide (the
80x24 layout gives the ladder 34-40 columns) the cumulative sizes replace the per-level sizes, so
every column stays on screen and the totals never drop. ``◆`` marks the position's average price.

Book updates only mark the ladder dirty; it redraws at most every :attr:`REDRAW_INTERVAL_S`, so a
full-rate feed costs one parse and one render per frame. Keys redraw at once.
(:mod:`stom_tui.widgets.ladder_paint` turns the rows into styled strips.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Literal

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine.protocol.payloads import BookSnapshot, InstrumentInfo
from engine.protocol.trading import OrderRow, PositionRow
from stom_tui.formatting import format_decimal, parse_decimal
from stom_tui.ladder_grid import (
    BookDepth,
    LadderWindow,
    OwnOrders,
    book_depth,
    ladder_rows,
    lay_out,
    own_orders,
)
from stom_tui.price_grid import PriceGrid
from stom_tui.widgets.ladder_paint import AVERAGE_MARK, LadderStyles, paint

Side = Literal["buy", "sell"]
PAGE_TICKS = 10


_KEY_NAMES = {
    "[": "left_square_bracket",
    "]": "right_square_bracket",
    "{": "left_curly_bracket",
    "}": "right_curly_bracket",
}


def _key(
    key: str, action: str, description: str, name: str, tooltip: str, *, show: bool = False
) -> Binding:
    """A ladder binding: id ``ladder_<name>``; brackets are bound by their key names."""
    return Binding(
        _KEY_NAMES.get(key, key),
        action,
        description,
        id=f"ladder_{name}",
        key_display=key if key in _KEY_NAMES else None,
        show=show,
        tooltip=tooltip,
    )


class PriceLadder(Widget, can_focus=True):
    """A price ladder with a cursor; posts :class:`OrderAtPrice` and :class:`CancelAtPrice`
    (the app decides on size and confirmation and sends the commands)."""

    REDRAW_INTERVAL_S: ClassVar[float] = 0.05
    """Book updates redraw at most this often (20 Hz)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        _key("up", "move_cursor(1)", "Up a tick", "up", "Ladder cursor one tick up"),
        _key("down", "move_cursor(-1)", "Down a tick", "down", "Ladder cursor one tick down"),
        _key("pageup", f"move_cursor({PAGE_TICKS})", "Up 10 ticks", "page_up", "Page up"),
        _key("pagedown", f"move_cursor(-{PAGE_TICKS})", "Down 10 ticks", "page_down", "Page down"),
        _key("b", "limit('buy')", "Buy at cursor", "buy", "Limit buy at that price", show=True),
        _key("s", "limit('sell')", "Sell at cursor", "sell", "Limit sell at that price", show=True),
        _key("c", "cancel_here", "Cancel at cursor", "cancel", "Your orders there", show=True),
        _key("z", "recenter", "Re-centre", "recenter", "Centre on the touch", show=True),
        _key("[", "join('buy')", "Join bid", "join_bid", "Limit buy at the best bid"),
        _key("]", "join('sell')", "Join ask", "join_ask", "Limit sell at the best ask"),
        _key("{", "cross('buy')", "Buy IOC at ask", "cross_buy", "Take the best ask"),
        _key("}", "cross('sell')", "Sell IOC at bid", "cross_sell", "Hit the best bid"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "price-ladder--header",
        "price-ladder--price",
        "price-ladder--inside",
        "price-ladder--bid",
        "price-ladder--ask",
        "price-ladder--bid-total",
        "price-ladder--ask-total",
        "price-ladder--best-bid",
        "price-ladder--best-ask",
        "price-ladder--own-buy",
        "price-ladder--own-sell",
        "price-ladder--average",
        "price-ladder--cursor",
        "price-ladder--muted",
    }

    DEFAULT_CSS = """
    PriceLadder {
        min-width: 24;
        min-height: 4;
        & > .price-ladder--header { color: $text-muted; text-style: bold; }
        & > .price-ladder--price { color: $foreground; }
        & > .price-ladder--inside { color: $text-muted; }
        & > .price-ladder--bid { color: $success; }
        & > .price-ladder--ask { color: $error; }
        & > .price-ladder--bid-total { color: $success 75%; }
        & > .price-ladder--ask-total { color: $error 75%; }
        & > .price-ladder--best-bid { background: $success 35%; text-style: bold; }
        & > .price-ladder--best-ask { background: $error 35%; text-style: bold; }
        & > .price-ladder--own-buy { background: $success 30%; text-style: bold; }
        & > .price-ladder--own-sell { background: $error 30%; text-style: bold; }
        & > .price-ladder--average { color: $warning; text-style: bold; }
        & > .price-ladder--cursor { background: $block-cursor-blurred-background; }
        &:focus > .price-ladder--cursor { background: $block-cursor-background 60%; }
        & > .price-ladder--muted { color: $text-muted; }
    }
    """

    @dataclass
    class OrderAtPrice(Message):
        """The user asked for an order at an exact grid price (size and confirm: the app's)."""

        instrument_id: str
        side: Side
        price: Decimal
        kind: Literal["limit", "ioc"]

    @dataclass
    class CancelAtPrice(Message):
        """The user asked to cancel their open orders at ``price`` (``order_ids``: client ids)."""

        instrument_id: str
        price: Decimal
        order_ids: list[str]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Ladder"
        self.instrument_id: str | None = None
        self._info: InstrumentInfo | None = None
        self._grid: PriceGrid | None = None
        self._window: LadderWindow | None = None
        self._book: BookSnapshot | None = None
        self._book_changed = False
        self._depth = BookDepth()
        self._orders: list[OrderRow] = []
        self._own = OwnOrders()
        self._position: PositionRow | None = None
        self._average: int | None = None
        self._redraw_pending = False
        self._strips: list[Strip] | None = None
        """The drawn rows, kept until something changes (Textual asks for lines repeatedly)."""

    # --- the app's interface ------------------------------------------------------------------

    def show_instrument(self, instrument_id: str | None, info: InstrumentInfo | None) -> None:
        """Follow another instrument (its book, orders and position come with the next updates
        or from what was already given for it)."""
        if instrument_id == self.instrument_id and info == self._info:
            return
        if instrument_id != self.instrument_id:
            self._book = None
        self.instrument_id, self._info = instrument_id, info
        self._grid = PriceGrid.from_info(info) if info is not None else None
        self._window = LadderWindow(self._grid) if self._grid is not None else None
        self._depth = BookDepth()
        self._book_changed = self._book is not None
        self._own = self._own_orders()
        self._average = self._average_price()
        self.border_title = f"Ladder · {instrument_id}" if instrument_id else "Ladder"
        self._redraw_now()

    def update_book(self, book: BookSnapshot) -> None:
        """Keep the newest book of the shown instrument; drawn on the next redraw tick."""
        if book.id != self.instrument_id:
            return
        first = self._book is None
        self._book = book
        self._book_changed = True
        if first:
            self._redraw_now()  # a switched-to instrument's ladder fills at once
        else:
            self._schedule_redraw()

    def set_orders(self, orders: list[OrderRow]) -> None:
        """All open orders (other instruments' are left out here)."""
        self._orders = orders
        self._own = self._own_orders()
        self._schedule_redraw()

    def set_position(self, position: PositionRow | None) -> None:
        """The position whose average price is marked (other instruments' are ignored)."""
        self._position = position
        self._average = self._average_price()
        self._schedule_redraw()

    @property
    def redraw_pending(self) -> bool:
        """Something changed that the next redraw tick will draw."""
        return self._redraw_pending

    @property
    def book(self) -> BookSnapshot | None:
        """The newest book of the shown instrument (what the ticket quotes from)."""
        return self._book

    @property
    def cursor_price(self) -> Decimal | None:
        """The price under the cursor; None before the first book."""
        self._sync()
        if self._grid is None or self._window is None or self._window.cursor is None:
            return None
        return self._grid.price(self._window.cursor)

    @property
    def visible_prices(self) -> list[Decimal]:
        """The prices on the rows, top first (for tests and the app's checks)."""
        self._sync()
        if self._grid is None or self._window is None:
            return []
        grid = self._grid
        return [grid.price(raw) for raw in self._window.prices()]

    def recenter(self) -> None:
        """Centre on the touch and put the cursor there (the ``z`` key)."""
        self._sync()
        if self._window is None or not self._window.recenter():
            self.app.bell()
            return
        self._redraw_now()

    # --- keys ---------------------------------------------------------------------------------

    def action_move_cursor(self, ticks: int) -> None:
        self._sync()
        if self._window is not None:
            self._window.move_cursor(ticks)
            self._redraw_now()

    def action_recenter(self) -> None:
        self.recenter()

    def action_limit(self, side: Side) -> None:
        self._post_order(side, self.cursor_price, "limit", "the cursor")

    def action_join(self, side: Side) -> None:
        self._post_order(side, self._best(side == "buy"), "limit", "the touch")

    def action_cross(self, side: Side) -> None:
        self._post_order(side, self._best(side == "sell"), "ioc", "the opposite side")

    def action_cancel_here(self) -> None:
        price = self.cursor_price
        if self.instrument_id is None or price is None or self._window is None:
            self.app.bell()
            return
        assert self._window.cursor is not None
        order_ids = self._own.at(self._window.cursor)
        if not order_ids:
            self.app.bell()
            pending = self._own.working_at(self._window.cursor)
            reason = "cancel already sent" if pending else "no open orders of yours"
            self.notify(f"{reason.capitalize()} at {format_decimal(price)}", severity="warning")
            return
        self.post_message(self.CancelAtPrice(self.instrument_id, price, order_ids))

    def _post_order(
        self, side: Side, price: Decimal | None, kind: Literal["limit", "ioc"], where: str
    ) -> None:
        if self.instrument_id is None or price is None:
            self.app.bell()
            self.notify(f"No price at {where} yet", severity="warning")
            return
        self.post_message(self.OrderAtPrice(self.instrument_id, side, price, kind))

    def _best(self, bid: bool) -> Decimal | None:
        self._sync()
        best = self._depth.bids.best if bid else self._depth.asks.best
        if best is None or self._grid is None:
            return None
        return self._grid.price(best)

    # --- state --------------------------------------------------------------------------------

    def _sync(self) -> None:
        """Bring the window up to date with the newest book and the widget's height."""
        window, grid = self._window, self._grid
        if window is None or grid is None:
            return
        window.resize(self.content_size.height - 1)
        if self._book_changed and self._book is not None:
            self._depth = book_depth(self._book, grid)
            window.update_touch(self._depth.bids.best, self._depth.asks.best)
        self._book_changed = False

    def _own_orders(self) -> OwnOrders:
        if self._grid is None or self.instrument_id is None:
            return OwnOrders()
        return own_orders(self._orders, self.instrument_id, self._grid)

    def _average_price(self) -> int | None:
        position = self._position
        if self._grid is None or position is None or position.instrument_id != self.instrument_id:
            return None
        quantity, average = parse_decimal(position.quantity), parse_decimal(position.avg_price)
        if not quantity or average is None or average <= 0:
            return None
        return self._grid.nearest(average)

    def _schedule_redraw(self) -> None:
        if self._redraw_pending or not self.is_mounted:
            return
        self._redraw_pending = True
        self.set_timer(self.REDRAW_INTERVAL_S, self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_pending = False
        self._strips = None
        self._sync()
        self.border_subtitle = self._subtitle()
        self.refresh()

    def _subtitle(self) -> str:
        """Position, scroll hint and spread, dropping the spread first when the border is short."""
        window, grid = self._window, self._grid
        if window is None or grid is None:
            return ""
        essential = []
        position = self._position
        if self._average is not None and position is not None:
            average = format_decimal(parse_decimal(position.avg_price))
            essential.append(f"{AVERAGE_MARK} {format_decimal(position.quantity)} @ {average}")
        if not window.following:
            essential.append("z centres")
        prices = window.prices()
        if window.best_bid in prices and window.best_ask in prices:
            assert window.best_bid is not None and window.best_ask is not None
            ticks = prices.index(window.best_bid) - prices.index(window.best_ask)
            full = " · ".join([f"spread {ticks} tick{'' if ticks == 1 else 's'}", *essential])
            if len(full) <= self.size.width - 6:
                return full
        return " · ".join(essential)

    # --- drawing ------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._redraw_now()

    def notify_style_update(self) -> None:
        # Focus and theme changes restyle the component classes: draw the rows again.
        self._strips = None
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = self._draw()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.content_size.width, self.rich_style)

    def _draw(self) -> list[Strip]:
        """Every row of the ladder at the current size (the header first)."""
        self._sync()
        window, grid = self._window, self._grid
        width = self.content_size.width
        styles = LadderStyles(self.rich_style, self.get_component_rich_style)
        if self.instrument_id is None:
            return [styles.message("no instrument", width)]
        if window is None or grid is None:
            return [styles.message("no price grid for this instrument", width)]
        if window.centre is None:
            return [styles.message("waiting for the order book…", width)]
        rows = ladder_rows(window.prices(), self._depth, self._own)
        return paint(rows, lay_out(rows, grid, width), window, self._average, width, styles)
