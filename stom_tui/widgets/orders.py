"""Open and recent orders, newest first, one row per client order id, updated in place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from engine.protocol.payloads import InstrumentInfo
from engine.protocol.trading import OrderRow, Orders
from stom_tui.formatting import format_clock, format_price, format_size, parse_decimal
from stom_tui.order_text import is_open, short_id, spelled, status_label, type_label
from stom_tui.widgets.live_table import Column, LiveTable

_COLUMNS = (
    Column("time", "Time", 8, rank=8, justify="left"),
    Column("id", "Order", 8, rank=9, justify="left"),
    Column("instrument", "Instrument", 11, rank=1, justify="left"),
    Column("side", "Side", 4, rank=1, justify="left"),
    Column("type", "Type", 7, rank=6, justify="left"),
    Column("price", "Price", 11, rank=1),
    Column("quantity", "Qty", 10, rank=1),
    Column("filled", "Filled", 10, rank=5),
    Column("avg", "Avg", 11, rank=7),
    Column("status", "Status", 10, rank=1, justify="left"),
    Column("reason", "Reason", 12, rank=10, justify="left", flexible=True),
)

_STATUS_STYLE = {
    "submitted": "pending",
    "accepted": "open",
    "partially_filled": "open",
    "pending_cancel": "pending",
    "filled": "filled",
    "canceled": "muted",
    "expired": "muted",
    "rejected": "rejected",
    "denied": "rejected",
}


class OrdersPane(LiveTable):
    """Orders from the retained ``oms/orders`` snapshot; the cursor row is the order ``c``
    cancels. Buy and sell take the theme's buy/sell colours; the status its own. The border
    counts open and closed rows (the snapshot lists recent closed orders too)."""

    COLUMNS = _COLUMNS

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "orders--buy",
        "orders--sell",
        "orders--open",
        "orders--pending",
        "orders--filled",
        "orders--rejected",
        "orders--muted",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Orders"
        self.orders: dict[str, OrderRow] = {}
        self.instruments: Mapping[str, InstrumentInfo] = {}

    @property
    def open_count(self) -> int:
        return sum(1 for order in self.orders.values() if is_open(order))

    def set_instruments(self, instruments: Mapping[str, InstrumentInfo]) -> None:
        """Instrument details for price and size precision (rows are redrawn with them)."""
        self.instruments = instruments
        if self.orders:
            rows = list(self.orders.values())
            self.set_rows((order.client_order_id, self._row_cells(order)) for order in rows)

    @property
    def selected_order(self) -> OrderRow | None:
        key = self.highlighted_key
        return self.orders.get(key) if key is not None else None

    def update_orders(self, snapshot: Orders) -> None:
        """Show ``snapshot`` (newest first), changing only what changed."""
        self.orders = {order.client_order_id: order for order in snapshot.orders}
        self.set_rows((order.client_order_id, self._row_cells(order)) for order in snapshot.orders)
        self.border_title = orders_title(self.open_count, len(self.orders) - self.open_count)

    def _row_cells(self, order: OrderRow) -> dict[str, Text]:
        muted = self._style("muted")
        side_style = self._style(order.side)
        status_style = self._style(_STATUS_STYLE.get(order.status, "muted"))
        info = self.instruments.get(order.instrument_id)
        price = "market" if order.price is None else format_price(order.price, info)
        filled_style = Style() if _is_zero(order.filled) else self._style("filled")
        return {
            "time": Text(format_clock(order.ts_created), style=muted),
            "id": Text(short_id(order.client_order_id), style=muted),
            "instrument": Text(order.instrument_id, overflow="ellipsis", no_wrap=True),
            "side": Text(order.side, style=side_style),
            "type": Text(type_label(order.type, order.tif)),
            "price": _right(price, side_style if order.price is not None else muted),
            "quantity": _right(format_size(order.quantity, info)),
            "filled": _right(format_size(order.filled, info), filled_style),
            "avg": _right(format_price(order.avg_price, info), muted),
            "status": Text(status_label(order.status), style=status_style),
            "reason": Text(
                spelled(order.reason or ""), style=muted, overflow="ellipsis", no_wrap=True
            ),
        }

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"orders--{name}", partial=True)


def _is_zero(value: str) -> bool:
    return not parse_decimal(value)


def _right(text: str, style: Style | None = None) -> Text:
    return Text(text, style=style or Style(), justify="right", no_wrap=True, overflow="ellipsis")


def orders_title(open_count: int, closed_count: int) -> str:
    """``Orders · 2 open · 3 closed``: every row listed is counted."""
    parts = ["Orders"]
    if open_count:
        parts.append(f"{open_count} open")
    if closed_count:
        parts.append(f"{closed_count} closed")
    return " · ".join(parts)
