"""The one :class:`~engine.strategy.api.StrategyContext`: a strategy's window on the engine.

Every order a strategy sends passes, in order: the strategy's own budget (largest order value and
largest position value, in the quote currency; a denial is journaled as ``OrderDenied`` with rule
``strategy_budget``), then the engine's pre-trade risk and the OMS, which send it to the venue or
the paper exchange. Live, paper and backtest use this class unchanged, over the same OMS.

The context keeps the strategy's own positions (from its own fills, so two strategies on one
instrument each see their own) and its own open orders; :class:`~engine.strategy.runner.
StrategyRunner` feeds it the OMS events of the strategy's orders.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.domain.fixed_point import floor_raw, format_raw
from engine.domain.ids import InstrumentId
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderFilled,
    OrderSide,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.domain.positions import Position
from engine.oms.order_requests import BadRequest, OrderRequest
from engine.strategy.api import ParamValue
from engine.strategy.guard import WATCHDOG

if TYPE_CHECKING:
    from engine.domain.instrument import Instrument
    from engine.market_state import InstrumentState
    from engine.oms.oms import Oms


BUDGET_RULE = "strategy_budget"
"""``OrderDenied.rule`` of an order refused by the strategy's own budget."""

log = logging.getLogger("stom.strategy")

MAX_ORDERS_PER_BATCH = 50
"""Orders (and denials) one strategy may send while the engine handles one market batch (one
engine time): more is a storm (a loop gone wrong, 200 orders per trade), and the strategy is
disabled before it starves the engine."""
MAX_ORDERS_PER_S = 1_000
"""The same over a second of engine time (a strategy retrying denied orders on every trade)."""


class StrategyHalted(BaseException):
    """Raised into a strategy that may send nothing more (disabled, or over its order rate)."""


@dataclass(frozen=True, slots=True)
class StrategyBudget:
    """What one strategy may risk, in its instruments' quote currency (None: no own limit; the
    engine's risk limits still apply to every order)."""

    max_order_notional: Decimal | None = None
    """Largest value of one order that adds to the position (price x quantity). An order that
    only reduces the position, counting the strategy's other open orders on its side as filled,
    is not limited."""
    max_position_notional: Decimal | None = None
    """Largest value of the position once this order and the strategy's other open orders on
    the same side fill (valued at the order's price, or the touch for a market order)."""


class OmsStrategyContext:
    """:class:`~engine.strategy.api.StrategyContext` over the OMS (see the module docstring)."""

    def __init__(
        self,
        strategy_id: str,
        oms: Oms,
        now: Callable[[], int],
        budget: StrategyBudget | None = None,
    ) -> None:
        self.strategy_id = strategy_id
        self._oms = oms
        self._market = oms.market
        self._now = now
        self.budget = budget or StrategyBudget()
        self.positions: dict[int, Position] = {}
        """This strategy's positions by instrument index, from its own fills."""
        self.open: dict[str, Order] = {}
        """This strategy's open orders by client order id."""
        self.fills = 0
        self._limits: dict[int, tuple[int | None, int | None]] = {}
        self.max_orders_per_s = MAX_ORDERS_PER_S
        self.max_orders_per_batch = MAX_ORDERS_PER_BATCH
        self.halted: str | None = None
        """Why this strategy may send nothing more (set by the runner when it fails)."""
        self.on_storm: Callable[[str], None] | None = None
        """The runner's hook: disable the strategy now (it may swallow the exception)."""
        self._window_start = -(10**18)
        self._window_orders = 0
        self._batch_time = -1
        self._batch_orders = 0

    # --- time, instruments, market ----------------------------------------------------------

    @property
    def now_ns(self) -> int:
        return self._now()

    def instrument(self, i: int) -> Instrument:
        return self._market.at(i).instrument

    def index_of(self, instrument_id: str) -> int:
        try:
            return self._market.index_of(InstrumentId(instrument_id))
        except (KeyError, ValueError):
            known = ", ".join(str(instrument.id) for instrument in self._market.instruments())
            raise ValueError(
                f"unknown instrument {instrument_id!r}; this engine has: {known}"
            ) from None

    def state(self, i: int) -> InstrumentState:
        """The engine's market state of instrument ``i`` (read only)."""
        return self._market.at(i)

    def best_bid(self, i: int) -> int:
        return self._market.at(i).best_bid

    def best_ask(self, i: int) -> int:
        return self._market.at(i).best_ask

    def last_price(self, i: int) -> int:
        return self._market.at(i).last_price

    def top_bids(self, i: int, depth: int) -> list[tuple[int, int]]:
        return self._market.at(i).top_bids(depth)

    def top_asks(self, i: int, depth: int) -> list[tuple[int, int]]:
        return self._market.at(i).top_asks(depth)

    def price_raw(self, i: int, value: ParamValue | str) -> int:
        """``value`` (a price in the quote currency) as raw units, floored to the tick grid."""
        instrument = self.instrument(i)
        raw = floor_raw(Decimal(str(value)), instrument.price_precision)
        return instrument.tick_table.round_down(raw) if raw > 0 else raw

    def size_raw(self, i: int, value: ParamValue | str) -> int:
        """``value`` (a size in the base currency) as raw units, floored to the lot size."""
        instrument = self.instrument(i)
        raw = floor_raw(Decimal(str(value)), instrument.size_precision)
        return raw - raw % instrument.lot_size_raw

    # --- own state ----------------------------------------------------------------------------

    def position(self, i: int) -> int:
        position = self.positions.get(i)
        return position.quantity_raw if position is not None else 0

    def open_orders(self, i: int | None = None) -> list[Order]:
        if i is None:
            return list(self.open.values())
        instrument_id = str(self.instrument(i).id)
        return [order for order in self.open.values() if order.instrument_id == instrument_id]

    def order(self, client_order_id: str) -> Order | None:
        order = self._oms.orders.get(client_order_id)
        return order if order is not None and order.strategy_id == self.strategy_id else None

    # --- orders -------------------------------------------------------------------------------

    def buy(
        self, i: int, quantity: int, price: int | None = None, tif: TimeInForce = TimeInForce.GTC
    ) -> str:
        return self._send(i, OrderSide.BUY, quantity, price, tif)

    def sell(
        self, i: int, quantity: int, price: int | None = None, tif: TimeInForce = TimeInForce.GTC
    ) -> str:
        return self._send(i, OrderSide.SELL, quantity, price, tif)

    def cancel(self, client_order_id: str) -> None:
        """Cancel one of this strategy's orders; an order that has already ended is left alone
        (a fill may win the race), another strategy's order raises ValueError."""
        order = self._oms.orders.get(client_order_id)
        if order is None or order.strategy_id != self.strategy_id:
            raise ValueError(f"order {client_order_id!r} is not an order of {self.strategy_id}")
        if order.is_open:
            # Already pending cancel, or ended in between: nothing to do.
            guard = WATCHDOG
            owner, guard.owner = guard.owner, None  # engine code: never interrupted half-way
            try:
                with contextlib.suppress(BadRequest):
                    self._oms.cancel(client_order_id, self._now())
            finally:
                guard.owner = owner

    def cancel_all(self, i: int | None = None) -> None:
        for order in self.open_orders(i):
            self.cancel(order.client_order_id)

    def close_position(self, i: int) -> str | None:
        """What is held less what the strategy's open orders on the closing side already
        close (a sell still working after a restart is not sold twice)."""
        held = self.position(i)
        if held == 0:
            return None
        side = OrderSide.SELL if held > 0 else OrderSide.BUY
        instrument_id = str(self.instrument(i).id)
        closing = sum(
            order.leaves_raw
            for order in self.open.values()
            if order.side is side and order.instrument_id == instrument_id
        )
        quantity = abs(held) - closing
        if quantity <= 0:
            return None
        return self._send(i, side, quantity, None, TimeInForce.IOC)

    def log(self, message: str) -> None:
        log.info("[%s] %s", self.strategy_id, message)

    # --- from the runner ----------------------------------------------------------------------

    def on_event(self, event: AnyOrderEvent, order: Order) -> None:
        """Keep own positions and open orders in step with an OMS event of this strategy."""
        if order.is_open:
            self.open[order.client_order_id] = order
        else:
            self.open.pop(order.client_order_id, None)
        if isinstance(event, OrderFilled):
            index = self._market.index_of(order.instrument_id)
            position = self.positions.get(index)
            if position is None:
                position = self.positions[index] = Position(order.instrument_id)
            position.apply_fill(
                order.side,
                event.price_raw,
                event.quantity_raw,
                event.fee_raw,
                event.ts,
                fee_base_raw=event.fee_base_raw,
            )
            self.fills += 1

    # --- internals ----------------------------------------------------------------------------

    def _send(
        self, i: int, side: OrderSide, quantity: int, price: int | None, tif: TimeInForce
    ) -> str:
        if self.halted is not None:
            raise StrategyHalted(self.halted)
        now = self._now()
        if now - self._window_start >= 1_000_000_000:
            self._window_start, self._window_orders = now, 0
        if now != self._batch_time:
            self._batch_time, self._batch_orders = now, 0
        self._window_orders += 1
        self._batch_orders += 1
        storm = None
        if self._batch_orders > self.max_orders_per_batch:
            storm = f"more than {self.max_orders_per_batch} orders in one market batch"
        elif self._window_orders > self.max_orders_per_s:
            storm = f"more than {self.max_orders_per_s} orders in one second"
        guard = WATCHDOG
        owner, guard.owner = guard.owner, None  # engine code: never interrupted half-way
        try:
            if storm is None:
                return self._submit(i, side, quantity, price, tif)
            reason = f"{self.strategy_id} sent {storm} (the order-rate limit): disabled"
            self.halted = reason
            if self.on_storm is not None:
                self.on_storm(reason)  # disables it and cancels its orders: engine code too
        finally:
            guard.owner = owner
        raise StrategyHalted(reason)

    def _submit(
        self, i: int, side: OrderSide, quantity: int, price: int | None, tif: TimeInForce
    ) -> str:
        state = self._market.at(i)
        instrument = state.instrument
        now = self._now()
        if price is None:
            order_type = OrderType.MARKET
            tif = TimeInForce.FOK if tif is TimeInForce.FOK else TimeInForce.IOC
        else:
            order_type = OrderType.LIMIT
        denial = self._over_budget(i, state, side, quantity, price)
        if denial is not None:
            submitted = OrderSubmitted(
                ts=now,
                client_order_id=self._oms.new_client_order_id(),
                instrument_id=str(instrument.id),
                side=side,
                order_type=order_type,
                time_in_force=tif,
                quantity_raw=quantity,
                price_raw=price or 0,
                strategy_id=self.strategy_id,
            )
            return self._oms.deny(submitted, BUDGET_RULE, denial).client_order_id
        request = OrderRequest(
            instrument=instrument,
            side=side,
            order_type=order_type,
            time_in_force=tif,
            quantity_raw=quantity,
            price_raw=price or 0,
            strategy_id=self.strategy_id,
        )
        order, _ = self._oms.submit(request, now)
        return order.client_order_id

    def _over_budget(
        self, i: int, state: InstrumentState, side: OrderSide, quantity: int, price: int | None
    ) -> str | None:
        """Why the order breaks the strategy's budget, or None.

        The worst case counts the strategy's open orders on the order's side as filled: an order
        that only reduces that worst-case position passes; any other must keep it (and itself)
        within the budget."""
        max_order, max_position = self._limits_raw(i)
        if max_order is None and max_position is None:
            return None
        instrument = state.instrument
        instrument_id = str(instrument.id)
        pending = 0
        for order in self.open.values():
            if order.side is side and order.instrument_id == instrument_id:
                pending += order.leaves_raw
        signed = quantity if side is OrderSide.BUY else -quantity
        # Worst case before this order: the position once the open orders on its side fill.
        before = self.position(i) + (pending if side is OrderSide.BUY else -pending)
        if before and (before > 0) != (signed > 0) and quantity <= abs(before):
            return None
        reference = price or (state.best_ask if side is OrderSide.BUY else state.best_bid)
        reference = reference or state.last_price
        scale = instrument.price_precision + instrument.size_precision
        currency = instrument.quote_currency
        value = reference * quantity
        if max_order is not None and value > max_order:
            return (
                f"{self.strategy_id}: order value {format_raw(value, scale)} {currency} is above "
                f"the strategy's max_order_notional {self.budget.max_order_notional} {currency}"
            )
        if max_position is not None:
            projected = abs(before + signed) * reference
            if projected > max_position:
                return (
                    f"{self.strategy_id}: position value would reach "
                    f"{format_raw(projected, scale)} {currency}, above the strategy's "
                    f"max_position_notional {self.budget.max_position_notional} {currency}"
                )
        return None

    def _limits_raw(self, i: int) -> tuple[int | None, int | None]:
        limits = self._limits.get(i)
        if limits is None:
            instrument = self.instrument(i)
            scale = instrument.price_precision + instrument.size_precision
            budget = self.budget
            limits = self._limits[i] = (
                None
                if budget.max_order_notional is None
                else floor_raw(budget.max_order_notional, scale),
                None
                if budget.max_position_notional is None
                else floor_raw(budget.max_position_notional, scale),
            )
        return limits
