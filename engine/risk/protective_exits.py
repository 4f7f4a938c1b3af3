"""Engine-managed protective exits per position: stop-loss, take-profit and trailing stop.

The levels live in the engine, not on the venue, so they work on every venue and in backtests;
the OMS calls :meth:`ProtectiveExits.check` once per engine loop and sends the exit order that an
:class:`ExitSignal` asks for. A long is judged at the best bid (what it can be sold at), a short at
the best ask, either at the last trade when that side of the book is empty.

Levels computed from a percentage are rounded onto the tick grid *toward* their reference price
(the entry, or the best price for a trailing stop), and kept strictly on the exit side of it: an
exit fires no later than its percentage says, and never at the reference itself.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.domain.instrument import Instrument
from engine.domain.orders import OrderSide
from engine.domain.positions import Position
from engine.domain.tick_table import TickTable
from engine.market_state import InstrumentState
from engine.risk.limits import ExitDefaults
from engine.risk.money import price_text

STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"
TRAILING_STOP = "trailing_stop"
EXIT_STRATEGY_ID = "exit"
"""The ``strategy_id`` of the orders protective exits send."""
EXIT_RETRY_FIRST_S = 1.0
"""After an exit order ends without closing the position, the exit may fire again after this
wait; it doubles with each failure, up to :data:`EXIT_RETRY_MAX_S`."""
EXIT_RETRY_MAX_S = 30.0
_LABELS = {STOP_LOSS: "stop-loss", TAKE_PROFIT: "take-profit", TRAILING_STOP: "trailing stop"}


@dataclass(frozen=True, slots=True)
class ExitLevels:
    """A position's exit prices (raw), for the Positions pane; None: no such exit."""

    stop_loss_raw: int | None
    take_profit_raw: int | None
    trailing_stop_raw: int | None
    """The trailing stop's current level (it follows the best price since entry)."""
    trailing_pct: Decimal | None


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """Close ``quantity_raw`` of the position with an order on ``side``, because ``reason``."""

    instrument_id: str
    side: OrderSide
    quantity_raw: int
    kind: str
    """``stop_loss``, ``take_profit`` or ``trailing_stop``."""
    reason: str


class _Exit:
    """One position's exits and what the trailing stop has seen."""

    __slots__ = (
        "best_raw",
        "cost_raw",
        "failures",
        "instrument",
        "quantity_raw",
        "signalled",
        "stop_loss_raw",
        "take_profit_raw",
        "trailing_pct",
        "trailing_stop_raw",
    )

    def __init__(self, position: Position, instrument: Instrument) -> None:
        self.quantity_raw = position.quantity_raw
        self.cost_raw = position.cost_raw
        self.instrument = instrument
        self.stop_loss_raw: int | None = None
        self.take_profit_raw: int | None = None
        self.trailing_pct: Decimal | None = None
        self.trailing_stop_raw: int | None = None
        self.best_raw: int | None = None
        """Best price seen since entry: highest bid for a long, lowest ask for a short."""
        self.signalled: str | None = None
        """The exit already signalled; nothing more until the position changes or a clear."""
        self.failures = 0
        """Exit orders that ended without closing since the position last changed."""

    @property
    def is_long(self) -> bool:
        return self.quantity_raw > 0

    @property
    def entry(self) -> Fraction:
        """Average entry price, raw and exact."""
        return Fraction(self.cost_raw, self.quantity_raw)

    def set_trailing(self, pct: Decimal | None) -> None:
        """A new trailing percentage; the level restarts from the best price (or the entry)."""
        self.trailing_pct = pct if pct else None
        self.trailing_stop_raw = None
        if self.trailing_pct is not None:
            reference = Fraction(self.best_raw) if self.best_raw is not None else self.entry
            self.trailing_stop_raw = self.trailing_level(reference)

    def trailing_level(self, reference: Fraction) -> int:
        assert self.trailing_pct is not None
        pct = Fraction(self.trailing_pct)
        return exit_level(self.instrument.tick_table, reference, pct, above=not self.is_long)

    def follow(self, price_raw: int) -> None:
        """Move the trailing stop after ``price_raw``, only in the position's favour."""
        if self.trailing_pct is None or self.trailing_stop_raw is None:
            return
        best = self.best_raw
        if self.is_long:
            if best is None or price_raw > best:
                self.best_raw = price_raw
                level = self.trailing_level(Fraction(price_raw))
                self.trailing_stop_raw = max(self.trailing_stop_raw, level)
        elif best is None or price_raw < best:
            self.best_raw = price_raw
            level = self.trailing_level(Fraction(price_raw))
            self.trailing_stop_raw = min(self.trailing_stop_raw, level)

    def hit(self, price_raw: int) -> tuple[str, int] | None:
        """The first exit ``price_raw`` reaches: stop-loss, then trailing stop, then take-profit."""
        sign = 1 if self.is_long else -1
        for kind, level, losing in (
            (STOP_LOSS, self.stop_loss_raw, True),
            (TRAILING_STOP, self.trailing_stop_raw, True),
            (TAKE_PROFIT, self.take_profit_raw, False),
        ):
            if level is None:
                continue
            # A long loses below its stop and gains above its target; a short the mirror.
            beyond = sign * (level - price_raw) >= 0 if losing else sign * (price_raw - level) >= 0
            if beyond:
                return kind, level
        return None


def exit_level(table: TickTable, reference: Fraction, pct: Fraction, *, above: bool) -> int:
    """``reference`` moved ``pct`` percent up (``above``) or down, on the grid toward it.

    Kept strictly beyond ``reference`` by at least one tick, so a tiny percentage never puts an
    exit at the reference price itself.
    """
    if above:
        target = reference * (1 + pct / 100)
        level = table.round_down(math.floor(target))
        return max(level, table.step_up(math.floor(reference)))
    target = reference * (1 - pct / 100)
    level = table.round_up(math.ceil(target))
    return min(level, table.step_down(math.ceil(reference)))


class ProtectiveExits:
    """Stop-loss, take-profit and trailing stop for every open position the OMS reports."""

    def __init__(self, defaults: ExitDefaults | None = None) -> None:
        self.defaults = defaults or ExitDefaults()
        """What a newly opened position gets (from ``[risk]``)."""
        self._exits: dict[str, _Exit] = {}
        self._retries: dict[str, int] = {}
        """Instrument -> when its exit, whose order ended without closing, may fire again."""
        self.armed: set[str] = set()
        """Instruments whose position has at least one exit level: the only ones :meth:`check`
        can signal on (or move a trailing stop for), so the OMS checks no other."""

    # --- what the OMS tells us ----------------------------------------------------------------

    def on_position(self, instrument_id: str, position: Position, instrument: Instrument) -> None:
        """After each fill: a new (or reversed) position gets the defaults; flat clears exits."""
        if position.quantity_raw == 0:
            self._exits.pop(instrument_id, None)
            self._retries.pop(instrument_id, None)
            self.armed.discard(instrument_id)
            return
        record = self._exits.get(instrument_id)
        if record is None or record.is_long != (position.quantity_raw > 0):
            record = self._exits[instrument_id] = self._opened(position, instrument)
            self._retries.pop(instrument_id, None)
            self._track(instrument_id, record)
            return
        if record.quantity_raw != position.quantity_raw:
            # The position moved (an exit partly filled, say): what is left may exit at once.
            self._reset(instrument_id, record)
        record.quantity_raw = position.quantity_raw
        record.cost_raw = position.cost_raw
        record.instrument = instrument

    def _opened(self, position: Position, instrument: Instrument) -> _Exit:
        record = _Exit(position, instrument)
        tick_table = instrument.tick_table
        defaults = self.defaults
        entry = record.entry
        long = record.is_long
        if defaults.stop_loss_pct:
            pct = Fraction(defaults.stop_loss_pct)
            record.stop_loss_raw = exit_level(tick_table, entry, pct, above=not long)
        if defaults.take_profit_pct:
            pct = Fraction(defaults.take_profit_pct)
            record.take_profit_raw = exit_level(tick_table, entry, pct, above=long)
        record.set_trailing(defaults.trailing_stop_pct)
        return record

    def set(
        self,
        instrument_id: str,
        *,
        stop_loss_raw: int | None,
        take_profit_raw: int | None,
        trailing_pct: Decimal | None,
    ) -> None:
        """Replace all three exits of an open position (None, or a 0 percentage: no such exit).

        :class:`ValueError` when there is no open position or a price is off the tick grid.
        """
        record = self._exits.get(instrument_id)
        if record is None:
            raise ValueError(f"there is no open position on {instrument_id} to protect")
        instrument = record.instrument
        table = instrument.tick_table
        for name, price in (("stop-loss", stop_loss_raw), ("take-profit", take_profit_raw)):
            if price is not None and not table.is_on_grid(price):
                raise ValueError(
                    f"{name} price {price_text(price, instrument)} on {instrument_id} is off "
                    f"the tick grid (tick {price_text(table.tick_at(price), instrument)} there)"
                )
        if trailing_pct is not None and not 0 <= trailing_pct < 100:
            raise ValueError(
                f"trailing stop {trailing_pct}% on {instrument_id} must be from 0 to below 100"
            )
        record.stop_loss_raw = stop_loss_raw
        record.take_profit_raw = take_profit_raw
        record.set_trailing(trailing_pct)
        self._reset(instrument_id, record)
        self._track(instrument_id, record)

    def _track(self, instrument_id: str, record: _Exit) -> None:
        """Keep :attr:`armed` up to date after ``record``'s levels were set."""
        if (
            record.stop_loss_raw is None
            and record.take_profit_raw is None
            and record.trailing_stop_raw is None
        ):
            self.armed.discard(instrument_id)
        else:
            self.armed.add(instrument_id)

    def clear(self, instrument_id: str) -> None:
        """Forget the exit already signalled, so it may fire again (its order did not close)."""
        self._retries.pop(instrument_id, None)
        record = self._exits.get(instrument_id)
        if record is not None:
            record.signalled = None

    def _reset(self, instrument_id: str, record: _Exit) -> None:
        record.signalled = None
        record.failures = 0
        self._retries.pop(instrument_id, None)

    def exit_failed(self, instrument_id: str, now_ns: int) -> float | None:
        """The exit order for ``instrument_id`` ended without closing the position (denied,
        rejected, expired or cancelled unfilled). The exit may fire again after a wait that
        doubles with each failure (1 s, 2 s, … 30 s) until the position changes; the wait in
        seconds, or None when no exit is signalled (the position changed, or is gone)."""
        record = self._exits.get(instrument_id)
        if record is None or record.signalled is None:
            return None
        wait_s = min(EXIT_RETRY_MAX_S, EXIT_RETRY_FIRST_S * 2.0 ** min(record.failures, 16))
        record.failures += 1
        self._retries[instrument_id] = now_ns + int(wait_s * 1_000_000_000)
        return wait_s

    def release_due(self, now_ns: int) -> None:
        """Let the exits whose wait after a failed order is over fire again."""
        if not self._retries:
            return
        for instrument_id, due_ns in list(self._retries.items()):
            if now_ns >= due_ns:
                self.clear(instrument_id)

    def forget_orphan_signals(self, open_exit_instruments: Collection[str]) -> None:
        """At start-up: an exit signalled in the last run whose order is no longer open ended
        without closing (a closed position has no exits), so it may fire again now."""
        for instrument_id, record in self._exits.items():
            if record.signalled is not None and instrument_id not in open_exit_instruments:
                record.signalled = None

    # --- what the OMS asks --------------------------------------------------------------------

    def levels(self, instrument_id: str) -> ExitLevels | None:
        """The position's exit prices, or None when it has none."""
        record = self._exits.get(instrument_id)
        if record is None or (
            record.stop_loss_raw is None
            and record.take_profit_raw is None
            and record.trailing_stop_raw is None
        ):
            return None
        return ExitLevels(
            stop_loss_raw=record.stop_loss_raw,
            take_profit_raw=record.take_profit_raw,
            trailing_stop_raw=record.trailing_stop_raw,
            trailing_pct=record.trailing_pct,
        )

    def instruments(self) -> Iterator[str]:
        """Instruments whose position has at least one exit: the ones to :meth:`check`."""
        return (instrument_id for instrument_id in self._exits if self.levels(instrument_id))

    def check(
        self, instrument_id: str, position: Position, state: InstrumentState
    ) -> ExitSignal | None:
        """The exit the market has reached, once; None when nothing is due."""
        record = self._exits.get(instrument_id)
        quantity = position.quantity_raw
        if record is None or record.signalled or quantity == 0 or (quantity > 0) != record.is_long:
            return None
        long = record.is_long
        price, label = (state.best_bid, "bid") if long else (state.best_ask, "ask")
        if price <= 0:
            price, label = state.last_price, "last"
        if price <= 0:
            return None
        record.follow(price)
        hit = record.hit(price)
        if hit is None:
            return None
        kind, level = hit
        record.signalled = kind
        instrument = state.instrument
        reason = (
            f"{_LABELS[kind]} at {price_text(level, instrument)} hit "
            f"({label} {price_text(price, instrument)}"
        )
        if kind == TRAILING_STOP and record.best_raw is not None:
            reason += f"; best since entry {price_text(record.best_raw, instrument)}"
        return ExitSignal(
            instrument_id=instrument_id,
            side=OrderSide.SELL if long else OrderSide.BUY,
            quantity_raw=abs(quantity),
            kind=kind,
            reason=reason + ")",
        )

    # --- journal ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, one entry per open position."""
        return {
            instrument_id: {
                "quantity_raw": record.quantity_raw,
                "cost_raw": record.cost_raw,
                "stop_loss_raw": record.stop_loss_raw,
                "take_profit_raw": record.take_profit_raw,
                "trailing_pct": None if record.trailing_pct is None else str(record.trailing_pct),
                "trailing_stop_raw": record.trailing_stop_raw,
                "best_raw": record.best_raw,
                "signalled": record.signalled,
            }
            for instrument_id, record in sorted(self._exits.items())
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        instruments: Mapping[str, Instrument],
        defaults: ExitDefaults | None = None,
    ) -> ProtectiveExits:
        """What :meth:`to_dict` wrote. Positions on instruments no longer known are dropped:
        nothing could check them."""
        exits = cls(defaults)
        for instrument_id, saved in data.items():
            instrument = instruments.get(instrument_id)
            if instrument is None:
                continue
            position = Position(instrument_id)
            position.quantity_raw = int(saved["quantity_raw"])
            position.cost_raw = int(saved["cost_raw"])
            record = _Exit(position, instrument)
            record.stop_loss_raw = saved.get("stop_loss_raw")
            record.take_profit_raw = saved.get("take_profit_raw")
            pct = saved.get("trailing_pct")
            record.trailing_pct = None if pct is None else Decimal(pct)
            record.trailing_stop_raw = saved.get("trailing_stop_raw")
            record.best_raw = saved.get("best_raw")
            record.signalled = saved.get("signalled")
            exits._exits[instrument_id] = record
            exits._track(instrument_id, record)
        return exits
