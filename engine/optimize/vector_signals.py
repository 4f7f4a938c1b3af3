"""The signal API: what a strategy hands the vector path, and what it gets to compute it from.

A strategy that can state its decisions as arrays over its instrument's trades declares a
classmethod ``signals(tape, params) -> Signals`` (see ``docs/vector-path.md``). The optimizer
then evaluates a parameter set on :mod:`engine.optimize.vector_fills` (the paper fill model,
compiled) instead of the full event path, and re-checks sampled sets against the event path.

The contract the arrays must honour (it is what the event form of the strategy does):

* trades are the instrument's trades in replay order; index ``k`` is the ``k``-th trade;
* at a trade where ``ready[k]`` is false the strategy does nothing (it is warming up);
* otherwise, while an order of its own is working, it does nothing;
* long: it sends a market sell of the whole position when ``exits[k]``, or the price reaches
  the take-profit or stop-loss of the entry fill's price (``Bracket``'s float comparisons), or
  the position is ``max_hold_ns`` old (from the entry fill), and then waits ``cooldown_ns``
  from this trade's time before the next entry;
* flat: it sends a market buy of ``quantity[k]`` (raw) when ``entries[k]`` and ``quantity[k]``
  is positive and the cooldown has passed.

Every array is computed from the tape alone (indicators, crossings, thresholds): nothing in them
may depend on the strategy's position or orders; the kernel plays that state machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engine.domain.instrument import Instrument
from engine.strategy.api import Strategy

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FLOAT_EXACT = 1 << 53
"""Integers below this are exact as float64 (the kernel's float comparisons rely on it)."""


class VectorRefusal(ValueError):
    """The vector path cannot promise fills identical to the event path; the message says why
    (the trial runs on the event path instead)."""


@dataclass(frozen=True, slots=True)
class TradeTape:
    """One instrument's trades in replay order, with the book as the strategy saw it."""

    instrument: Instrument
    price: IntArray
    """Raw trade prices."""
    size: IntArray
    """Raw trade sizes."""
    side: npt.NDArray[np.int8]
    """The aggressor (``Side.BUY`` 0, ``Side.SELL`` 1), as ``on_trade`` gets it."""
    ts: IntArray
    """The trade's ``ts_event`` (``on_trade``'s ``ts``)."""
    best_bid: IntArray
    """``ctx.best_bid(i)`` during the trade's ``on_trade`` (0: no bid)."""
    best_ask: IntArray
    """``ctx.best_ask(i)`` during the trade's ``on_trade`` (0: no ask)."""

    def __len__(self) -> int:
        return len(self.price)


@dataclass(frozen=True, slots=True)
class Signals:
    """One parameter set's decisions (see the module docstring for what each means)."""

    entries: BoolArray
    quantity: IntArray
    exits: BoolArray | None = None
    ready: BoolArray | None = None
    take_profit_bps: float | None = None
    """None: none. Compared as ``price * 10_000 >= entry * (10_000 + take_profit_bps)``."""
    stop_loss_bps: float | None = None
    """None: none. Compared as ``price * 10_000 <= entry * (10_000 - stop_loss_bps)``."""
    max_hold_ns: int = 0
    """0: none."""
    cooldown_ns: int = 0

    def check(self, count: int) -> None:
        """VectorRefusal when the arrays do not fit a tape of ``count`` trades."""
        for name in ("entries", "quantity", "exits", "ready"):
            array = getattr(self, name)
            if array is not None and len(array) != count:
                raise VectorRefusal(f"signals: {name} has {len(array)} values for {count} trades")
        if (self.take_profit_bps or 0) < 0 or (self.stop_loss_bps or 0) < 0:
            raise VectorRefusal("signals: take-profit and stop-loss must not be negative")
        if self.max_hold_ns < 0 or self.cooldown_ns < 0:
            raise VectorRefusal("signals: max hold and cooldown must not be negative")


class SignalStrategy(Protocol):
    """A strategy class that declares the signal API."""

    @classmethod
    def signals(cls, tape: TradeTape, params: Mapping[str, Any]) -> Signals: ...


def declares_signals(strategy_cls: type[Strategy]) -> bool:
    """Whether ``strategy_cls`` declares the signal API (a ``signals`` classmethod)."""
    return callable(getattr(strategy_cls, "signals", None))


def resolved_params(strategy_cls: type[Strategy], given: Mapping[str, object]) -> dict[str, Any]:
    """Every declared parameter's value as the strategy's ``__init__`` sets it (validated)."""
    unknown = sorted(set(given) - set(strategy_cls.params))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}")
    return {
        name: param.validate(name, given[name]) if name in given else param.default
        for name, param in strategy_cls.params.items()
    }


# --- helpers for signals() ----------------------------------------------------------------------


def rolling_sum(values: IntArray, window: int) -> IntArray:
    """``out[k]``: the sum of the last ``window`` values up to ``k`` (fewer at the start)."""
    sums = np.cumsum(values, dtype=np.int64)
    if window < len(values):
        sums[window:] -= sums[: len(values) - window].copy()
    return sums


def rising(condition: BoolArray, first: int = 0) -> BoolArray:
    """True where ``condition`` holds and did not at the previous index; at ``first`` the
    previous value counts as false (before it nothing is evaluated)."""
    out = np.zeros(len(condition), np.bool_)
    if first < len(condition):
        out[first] = condition[first]
        out[first + 1 :] = condition[first + 1 :] & ~condition[first:-1]
    return out


def notional_raw(instrument: Instrument, value: float | str) -> int:
    """``quantity_for_value``'s value in raw notional units (price x size raw)."""
    scale = instrument.price_precision + instrument.size_precision
    return int(Decimal(str(value)).scaleb(scale))


_LAST_QUANTITIES: list[tuple[IntArray, int, int, IntArray]] = []
"""The last :func:`quantities_for_value` result (a sweep asks for the same one many times)."""


def quantities_for_value(instrument: Instrument, prices: IntArray, value: float | str) -> IntArray:
    """``engine.strategy.sizing.quantity_for_value`` at every price (0 where it is 0)."""
    raw = notional_raw(instrument, value)
    lot = instrument.lot_size_raw or 1
    for cached_prices, cached_raw, cached_lot, result in _LAST_QUANTITIES:
        # ``is``: the same array object (held by the cache, so its id cannot be reused).
        if cached_prices is prices and cached_raw == raw and cached_lot == lot:
            return result
    if raw >= 1 << 62:
        raise VectorRefusal(f"an order value of {value} is too large for int64 sizes")
    safe = np.where(prices > 0, prices, 1)
    quantity = raw // safe
    quantity -= quantity % lot
    quantity[prices <= 0] = 0
    quantity.flags.writeable = False  # shared with later calls
    _LAST_QUANTITIES[:] = [(prices, raw, lot, quantity)]
    return quantity
