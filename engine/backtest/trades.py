"""Round-trip trades from fills: a trade runs from flat to flat on one instrument.

Money is exact: raw integers at each instrument's notional scale (price_precision +
size_precision, see :mod:`engine.domain.fees`). A fill that reverses the position (long to short
in one fill) closes the trade with the part that flattens it and opens the next with the rest; its
fee is split in proportion (floored on the closing part, the remainder on the opening part).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from engine.domain.fixed_point import from_raw


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill of a backtest, with what the result files need."""

    ts: int
    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    """``buy`` or ``sell``."""
    price_raw: int
    quantity_raw: int
    fee_raw: int
    liquidity: str
    price_precision: int
    size_precision: int

    @property
    def scale(self) -> int:
        return self.price_precision + self.size_precision


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One closed trade (flat → position → flat) on one instrument."""

    instrument_id: str
    direction: str
    """``long`` or ``short``."""
    entry_ts: int
    exit_ts: int
    quantity_raw: int
    """Largest absolute position during the trade."""
    entry_quantity_raw: int
    entry_notional_raw: int
    exit_notional_raw: int
    fees_raw: int
    pnl_raw: int
    """Net of fees."""
    price_precision: int
    size_precision: int

    @property
    def hold_ns(self) -> int:
        return self.exit_ts - self.entry_ts

    @property
    def scale(self) -> int:
        return self.price_precision + self.size_precision

    @property
    def pnl(self) -> Decimal:
        return from_raw(self.pnl_raw, self.scale)

    @property
    def fees(self) -> Decimal:
        return from_raw(self.fees_raw, self.scale)

    @property
    def entry_price(self) -> Decimal:
        """Average entry price (exact quotient, 12 significant places at most)."""
        return from_raw(self.entry_notional_raw, self.scale) / from_raw(
            self.entry_quantity_raw, self.size_precision
        )

    @property
    def exit_price(self) -> Decimal:
        return from_raw(self.exit_notional_raw, self.scale) / from_raw(
            self.entry_quantity_raw, self.size_precision
        )


class _Open:
    __slots__ = (
        "entry_notional",
        "entry_quantity",
        "entry_ts",
        "exit_notional",
        "fees",
        "largest",
        "position",
    )

    def __init__(self, ts: int) -> None:
        self.entry_ts = ts
        self.position = 0
        self.entry_notional = 0
        self.entry_quantity = 0
        self.exit_notional = 0
        self.fees = 0
        self.largest = 0


def round_trips(fills: Iterable[FillRecord]) -> tuple[list[RoundTrip], dict[str, int]]:
    """Closed trades in the order they closed, and the position still open per instrument."""
    trades: list[RoundTrip] = []
    open_by_instrument: dict[str, _Open] = {}
    for fill in sorted(fills, key=lambda f: f.ts):
        quantity = fill.quantity_raw
        signed = quantity if fill.side == "buy" else -quantity
        current = open_by_instrument.get(fill.instrument_id)
        if current is None or current.position == 0:
            current = open_by_instrument[fill.instrument_id] = _Open(fill.ts)
        held = current.position
        if held == 0 or (held > 0) == (signed > 0):
            current.position += signed
            current.entry_notional += fill.price_raw * quantity
            current.entry_quantity += quantity
            current.fees += fill.fee_raw
            current.largest = max(current.largest, abs(current.position))
            continue
        closing = min(quantity, abs(held))
        closing_fee = fill.fee_raw * closing // quantity
        current.exit_notional += fill.price_raw * closing
        current.fees += closing_fee
        current.position += closing if held < 0 else -closing
        if current.position == 0:
            trades.append(_closed(fill, current, long=held > 0))
            opening = quantity - closing
            if opening:
                fresh = open_by_instrument[fill.instrument_id] = _Open(fill.ts)
                fresh.position = opening if signed > 0 else -opening
                fresh.entry_notional = fill.price_raw * opening
                fresh.entry_quantity = opening
                fresh.fees = fill.fee_raw - closing_fee
                fresh.largest = opening
    still_open = {iid: o.position for iid, o in open_by_instrument.items() if o.position}
    return trades, still_open


def _closed(fill: FillRecord, trade: _Open, *, long: bool) -> RoundTrip:
    gross = trade.exit_notional - trade.entry_notional
    return RoundTrip(
        instrument_id=fill.instrument_id,
        direction="long" if long else "short",
        entry_ts=trade.entry_ts,
        exit_ts=fill.ts,
        quantity_raw=trade.largest,
        entry_quantity_raw=trade.entry_quantity,
        entry_notional_raw=trade.entry_notional,
        exit_notional_raw=trade.exit_notional,
        fees_raw=trade.fees,
        pnl_raw=(gross if long else -gross) - trade.fees,
        price_precision=fill.price_precision,
        size_precision=fill.size_precision,
    )


def exposure_ns(fills: Iterable[FillRecord], end_ns: int) -> int:
    """Time with a position open on any instrument, up to ``end_ns``."""
    positions: dict[str, int] = {}
    open_count = 0
    since = 0
    total = 0
    for fill in sorted(fills, key=lambda f: f.ts):
        before = positions.get(fill.instrument_id, 0)
        after = before + (fill.quantity_raw if fill.side == "buy" else -fill.quantity_raw)
        positions[fill.instrument_id] = after
        if before == 0 and after != 0:
            if open_count == 0:
                since = fill.ts
            open_count += 1
        elif before != 0 and after == 0:
            open_count -= 1
            if open_count == 0:
                total += fill.ts - since
    if open_count:
        total += max(0, end_ns - since)
    return total
