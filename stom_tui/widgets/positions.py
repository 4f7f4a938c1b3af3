"""Positions: one row per instrument, PnL and protective levels, updated in place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from engine.protocol.payloads import InstrumentInfo
from engine.protocol.trading import Account, PositionRow, Positions
from stom_tui.formatting import (
    MISSING,
    format_amount,
    format_price,
    format_size,
    parse_decimal,
)
from stom_tui.widgets.live_table import Column, LiveTable

_COLUMNS = (
    Column("instrument", "Instrument", 11, rank=1, justify="left"),
    Column("quantity", "Qty", 11, rank=1),
    Column("avg", "Avg price", 11, rank=1),
    # The engine marks positions at the mid of the book (the last trade only without one).
    Column("mark", "Mid", 11, rank=6),
    Column("unrealized", "Unrealized", 11, rank=1),
    Column("realized", "Realized", 11, rank=4),
    Column("fees", "Fees", 9, rank=9),
    Column("stop", "Stop", 11, rank=5),
    Column("target", "Target", 11, rank=7),
    Column("trailing", "Trailing", 11, rank=8),
)


class PositionsPane(LiveTable):
    """Positions from the retained ``oms/positions`` snapshot, keyed by instrument id.

    Long quantities take the buy colour and shorts the sell colour; PnL is coloured by sign.
    The border counts open (non-zero) and closed (flat today, with realized PnL) rows, so the
    count always matches the rows; the bottom border shows the account's mode and balances.
    Prices and sizes follow each instrument's precision once :meth:`set_instruments` gave them.
    """

    COLUMNS = _COLUMNS

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "positions--long",
        "positions--short",
        "positions--profit",
        "positions--loss",
        "positions--muted",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Positions"
        self.positions: dict[str, PositionRow] = {}
        self.account: Account | None = None
        self.instruments: Mapping[str, InstrumentInfo] = {}

    @property
    def open_count(self) -> int:
        """Rows with a non-zero quantity."""
        return sum(1 for row in self.positions.values() if parse_decimal(row.quantity))

    @property
    def closed_count(self) -> int:
        """Rows flat again (listed for their realized PnL today)."""
        return len(self.positions) - self.open_count

    def set_instruments(self, instruments: Mapping[str, InstrumentInfo]) -> None:
        """Instrument details for price and size precision (rows are redrawn with them)."""
        self.instruments = instruments
        if self.positions:
            rows = list(self.positions.values())
            self.set_rows((row.instrument_id, self._row_cells(row)) for row in rows)

    def update_positions(self, snapshot: Positions) -> None:
        self.positions = {row.instrument_id: row for row in snapshot.positions}
        self.set_rows((row.instrument_id, self._row_cells(row)) for row in snapshot.positions)
        self.border_title = positions_title(self.open_count, self.closed_count)

    def set_account(self, account: Account) -> None:
        """Show the account mode and balances (each in its currency's precision) in the border."""
        self.account = account
        parts: list[str] = [account.mode]
        for balance in account.balances:
            text = f"{balance.currency} {format_amount(balance.free, balance.currency)}"
            if parse_decimal(balance.locked):
                text += f" (+{format_amount(balance.locked, balance.currency)} locked)"
            parts.append(text)
        self.border_subtitle = " · ".join(parts)

    def _row_cells(self, row: PositionRow) -> dict[str, Text]:
        quantity = parse_decimal(row.quantity) or 0
        side = "long" if quantity > 0 else "short" if quantity < 0 else "muted"
        info = self.instruments.get(row.instrument_id)
        return {
            "instrument": Text(row.instrument_id, overflow="ellipsis", no_wrap=True),
            "quantity": self._right(format_size(row.quantity, info), side),
            "avg": self._right(format_price(row.avg_price, info), None),
            "mark": self._right(format_price(row.last, info), "muted"),
            "unrealized": self._pnl(row.unrealized, row.currency),
            "realized": self._pnl(row.realized, row.currency),
            "fees": self._right(format_amount(row.fees, row.currency), "muted"),
            "stop": self._level(row.stop_loss, info),
            "target": self._level(row.take_profit, info),
            "trailing": self._level(row.trailing_stop, info),
        }

    def _pnl(self, value: str, currency: str) -> Text:
        number = parse_decimal(value)
        style = "muted" if not number else "profit" if number > 0 else "loss"
        return self._right(format_amount(value, currency, signed=True), style)

    def _level(self, value: str | None, info: InstrumentInfo | None) -> Text:
        if value is None:
            return self._right(MISSING, "muted")
        return self._right(format_price(value, info), None)

    def _right(self, text: str, style_name: str | None) -> Text:
        style = self._style(style_name) if style_name else Style()
        return Text(text, style=style, justify="right", no_wrap=True, overflow="ellipsis")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"positions--{name}", partial=True)


def positions_title(open_count: int, closed_count: int) -> str:
    """``Positions · 2 open · 1 closed``: every row listed is counted."""
    parts = ["Positions"]
    if open_count:
        parts.append(f"{open_count} open")
    if closed_count:
        parts.append(f"{closed_count} closed")
    return " · ".join(parts)
