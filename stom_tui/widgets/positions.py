"""Positions: one row per instrument, PnL and protective levels, updated in place."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text

from engine.protocol.trading import Account, PositionRow, Positions
from stom_tui.formatting import (
    MISSING,
    format_decimal,
    format_money,
    format_quantity,
    parse_decimal,
)
from stom_tui.widgets.live_table import Column, LiveTable

_COLUMNS = (
    Column("instrument", "Instrument", 11, rank=1, justify="left"),
    Column("quantity", "Qty", 11, rank=1),
    Column("avg", "Avg price", 11, rank=1),
    Column("last", "Last", 11, rank=6),
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
    The border shows the account's mode and the free and locked quote balances.
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

    @property
    def open_count(self) -> int:
        return sum(1 for row in self.positions.values() if parse_decimal(row.quantity))

    def update_positions(self, snapshot: Positions) -> None:
        self.positions = {row.instrument_id: row for row in snapshot.positions}
        self.set_rows((row.instrument_id, self._row_cells(row)) for row in snapshot.positions)
        count = self.open_count
        self.border_title = f"Positions · {count} open" if count else "Positions"

    def set_account(self, account: Account) -> None:
        """Show the account mode and balances in the border."""
        self.account = account
        parts = [account.mode]
        for balance in account.balances:
            text = f"{balance.currency} {format_money(balance.free)}"
            if parse_decimal(balance.locked):
                text += f" (+{format_money(balance.locked)} locked)"
            parts.append(text)
        self.border_subtitle = " · ".join(parts)

    def _row_cells(self, row: PositionRow) -> dict[str, Text]:
        quantity = parse_decimal(row.quantity) or 0
        side = "long" if quantity > 0 else "short" if quantity < 0 else "muted"
        return {
            "instrument": Text(row.instrument_id, overflow="ellipsis", no_wrap=True),
            "quantity": self._right(format_decimal(row.quantity), side),
            "avg": self._right(format_quantity(row.avg_price), None),
            "last": self._right(format_decimal(row.last), "muted"),
            "unrealized": self._pnl(row.unrealized),
            "realized": self._pnl(row.realized),
            "fees": self._right(format_money(row.fees), "muted"),
            "stop": self._level(row.stop_loss),
            "target": self._level(row.take_profit),
            "trailing": self._level(row.trailing_stop),
        }

    def _pnl(self, value: str) -> Text:
        number = parse_decimal(value)
        style = "muted" if not number else "profit" if number > 0 else "loss"
        return self._right(format_money(value, signed=True), style)

    def _level(self, value: str | None) -> Text:
        if value is None:
            return self._right(MISSING, "muted")
        return self._right(format_decimal(value), None)

    def _right(self, text: str, style_name: str | None) -> Text:
        style = self._style(style_name) if style_name else Style()
        return Text(text, style=style, justify="right", no_wrap=True, overflow="ellipsis")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"positions--{name}", partial=True)
