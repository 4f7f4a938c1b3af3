"""The strategy API: what a strategy file under ``strategies/`` subclasses and calls.

One class runs live, on paper and in the backtester. It never sees which: its callbacks get raw
integers (see :mod:`engine.domain`: prices and sizes scaled by the instrument's precisions), its
clock is ``ctx.now_ns`` (the live clock, or the replayed tick's time), and its orders go through
``ctx`` to the same risk checks, OMS and venue (or paper fill model) in every mode.

Hot-path shape: callbacks take plain ints, never per-tick objects. ``i`` is the instrument's index
in the engine's :class:`~engine.market_state.MarketState` (stable for the run);
``ctx.instrument(i)`` gives its rules and ``ctx.index_of("KRW-BTC.UPBIT")`` the index.

A minimal strategy::

    class Scalper(Strategy):
        '''Buy a burst of aggressive buying; exit on take-profit or stop-loss.'''

        fast = Param(20, low=5, high=100, step=5, doc="ticks in the fast average")
        size = Param(0.001, low=0.001, high=0.01, step=0.001, doc="order size, base currency")

        def on_trade(self, i, price, size, side, ts):
            ...
            self.ctx.buy(i, self.ctx.size_raw(i, self.size))

Exceptions escaping a callback disable that strategy only (logged with file and line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from engine.domain.market_data import Bar
from engine.domain.orders import Order, OrderSide, TimeInForce

if TYPE_CHECKING:
    from engine.domain.instrument import Instrument

ParamValue = int | float | str | bool
"""A parameter's value: a number, one of declared choices, or a flag."""


class Side:
    """Named sides for strategy callbacks: ``on_trade``'s aggressor ``side`` is one of these
    plain ints (``Side.BUY == 0``, ``Side.SELL == 1``, the values the engine always used, so
    code comparing with 0 and 1 keeps working)."""

    BUY = 0
    SELL = 1


@dataclass(frozen=True, slots=True)
class Param:
    """A declared strategy parameter: its default and what the optimizer searches.

    Three kinds, told apart by the declaration:

    - **numeric** (an int or float ``default``): ``low``/``high``/``step`` bound the search (grid:
      every step; random and GA: any step multiple);
    - **boolean** (a ``bool`` default): the optimizer tries ``False`` and ``True``;
    - **categorical** (``choices=(...)``, the default among them): the optimizer tries each
      choice (text, numbers or flags); a value must be one of them.

    Declared as a class attribute; the instance attribute of the same name holds the value in use.
    """

    default: ParamValue
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    doc: str = ""
    choices: tuple[ParamValue, ...] | None = None

    @property
    def kind(self) -> str:
        """``"numeric"``, ``"boolean"`` or ``"categorical"``."""
        if self.choices is not None:
            return "categorical"
        return "boolean" if isinstance(self.default, bool) else "numeric"

    def validate(self, name: str, value: object) -> ParamValue:
        """``value`` as this parameter's type, or ValueError naming the parameter and value."""
        if self.choices is not None:
            for choice in self.choices:
                # type() too: True == 1 == 1.0 in Python, but a flag is not a number here.
                if type(choice) is type(value) and choice == value:
                    return choice
            allowed = ", ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"parameter {name}: {value!r} is not one of {allowed}")
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"parameter {name}: {value!r} is not true or false")
            return value
        if isinstance(self.default, str):
            raise ValueError(f"parameter {name}: a text parameter needs choices=(...)")
        kind = type(self.default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"parameter {name}: {value!r} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"parameter {name}: {value!r} is not a finite number")
        if kind is int and (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"parameter {name}: {value!r} is not a whole number")
        converted: int | float = int(value) if kind is int else float(value)
        if self.low is not None and converted < self.low:
            raise ValueError(f"parameter {name}: {value!r} is below its low bound {self.low}")
        if self.high is not None and converted > self.high:
            raise ValueError(f"parameter {name}: {value!r} is above its high bound {self.high}")
        return converted


@dataclass(frozen=True, slots=True)
class StrategyFill:
    """One fill of one of the strategy's own orders (raw units; fee at the notional scale)."""

    i: int
    client_order_id: str
    side: OrderSide
    price: int
    quantity: int
    fee: int
    liquidity: str
    ts: int


class StrategyContext(Protocol):
    """What a strategy may ask and do. Implemented once (``engine.strategy.context``) over the
    OMS, so live, paper and backtest share it."""

    strategy_id: str

    @property
    def now_ns(self) -> int: ...

    def instrument(self, i: int) -> Instrument: ...
    def index_of(self, instrument_id: str) -> int: ...

    # market state (raw units; 0 when the book side is empty)
    def best_bid(self, i: int) -> int: ...
    def best_ask(self, i: int) -> int: ...
    def last_price(self, i: int) -> int: ...
    def top_bids(self, i: int, depth: int) -> list[tuple[int, int]]: ...
    def top_asks(self, i: int, depth: int) -> list[tuple[int, int]]: ...

    # conversions at the edge (config values and parameters are decimals; the hot path is raw)
    def price_raw(self, i: int, value: ParamValue | str) -> int: ...
    def size_raw(self, i: int, value: ParamValue | str) -> int: ...

    # own state
    def position(self, i: int) -> int:
        """This strategy's signed position (raw size), from its own fills."""
        ...

    def open_orders(self, i: int | None = None) -> list[Order]: ...
    def order(self, client_order_id: str) -> Order | None: ...

    # orders: through the strategy's budget, then the engine's risk checks and the OMS. They
    # return the client order id; a denial arrives at once through ``on_order`` (status denied).
    def buy(
        self, i: int, quantity: int, price: int | None = None, tif: TimeInForce = TimeInForce.GTC
    ) -> str: ...
    def sell(
        self, i: int, quantity: int, price: int | None = None, tif: TimeInForce = TimeInForce.GTC
    ) -> str: ...
    def cancel(self, client_order_id: str) -> None: ...
    def cancel_all(self, i: int | None = None) -> None: ...
    def close_position(self, i: int) -> str | None:
        """Send a market order that flattens this strategy's position (None when flat)."""
        ...

    def log(self, message: str) -> None: ...


class Strategy:
    """Base class of every strategy. Override the callbacks you need; all default to no-ops.

    Class attributes:

    - ``Param`` attributes declare parameters (collected in ``params``).
    - ``instruments``: instrument ids to trade when the config names none.
    - ``timeframes``: bar timeframes wanted in ``on_bar`` ("1m", "5m", "15m").

    The signal API (optional, ``docs/vector-path.md``): a classmethod ``signals(tape, params)``
    returning :class:`engine.optimize.vector_signals.Signals` states the strategy's entries and
    exits as arrays over its trades; ``stom optimize`` then evaluates parameter sets on the
    vector path and re-checks sampled ones against these callbacks.
    """

    params: ClassVar[dict[str, Param]] = {}
    instruments: ClassVar[tuple[str, ...]] = ()
    timeframes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = dict(getattr(cls, "params", {}))
        declared.update({name: v for name, v in vars(cls).items() if isinstance(v, Param)})
        cls.params = declared

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        self.ctx = ctx
        given = dict(params or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"{type(self).__name__} declares {', '.join(sorted(self.params)) or 'none'}"
            )
        for name, param in self.params.items():
            value = param.validate(name, given[name]) if name in given else param.default
            setattr(self, name, value)

    def param_values(self) -> dict[str, ParamValue]:
        return {name: getattr(self, name) for name in self.params}

    # --- callbacks (all optional) ------------------------------------------------------------

    def on_start(self) -> None:
        """Called once before the first event (after ``load_state`` when state was saved)."""

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        """A trade printed on instrument ``i``; ``side`` is the aggressor (``Side.BUY`` or
        ``Side.SELL``)."""

    def on_book(self, i: int, ts: int) -> None:
        """Instrument ``i``'s book changed (once per engine batch, after all its updates)."""

    def on_bar(self, i: int, timeframe: str, bar: Bar) -> None:
        """A bar of ``timeframe`` closed on instrument ``i``."""

    def on_fill(self, fill: StrategyFill) -> None:
        """One of this strategy's orders filled (partly or fully)."""

    def on_order(self, order: Order) -> None:
        """One of this strategy's orders changed state (accepted, denied, cancelled, ...)."""

    def on_stop(self) -> None:
        """Called when the strategy is disabled or the engine stops."""

    # --- state kept across restarts ----------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        """JSON-safe state to keep across engine restarts (journaled); default: nothing."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`save_state` returned."""
