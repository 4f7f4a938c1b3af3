"""The trading commands on the bus (``order.submit``, ``order.cancel`` …; docs/trading-core.md).

Each handler validates its arguments (a :class:`BadRequest` becomes a rejection naming the field
and the value, and changes nothing), records the command in the journal's audit trail, and calls
the OMS. Results carry the same rows the bus publishes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from engine.commands import CommandRejected, CommandRouter
from engine.domain.clock import Clock
from engine.domain.orders import Order, OrderStatus
from engine.oms.oms import Oms
from engine.oms.order_requests import (
    BadRequest,
    client_order_id_of,
    instrument_of,
    parse_order_request,
    price_raw_of,
    quantity_raw_of,
)
from engine.oms.rows import balance_rows, order_row, position_row, position_rows

Args = dict[str, Any]
Handler = Callable[[Args], Awaitable[Args]]


class TradingCommands:
    """Registers the trading command handlers on a :class:`CommandRouter`."""

    def __init__(self, oms: Oms, clock: Clock, *, live_venues: frozenset[str]) -> None:
        self.oms = oms
        self.clock = clock
        self.live_venues = live_venues

    def register(self, router: CommandRouter) -> None:
        handlers: dict[str, Callable[[Args, int], Args]] = {
            "order.submit": self.submit,
            "order.cancel": self.cancel,
            "order.cancel_all": self.cancel_all,
            "order.replace": self.replace,
            "orders": self.orders,
            "positions": self.positions,
            "kill": self.kill,
            "kill.reset": self.kill_reset,
            "arm": self.arm,
            "disarm": self.disarm,
            "protect": self.protect,
        }
        for name, handler in handlers.items():
            router.register(name, self._wrap(name, handler))

    def _wrap(self, name: str, handler: Callable[[Args, int], Args]) -> Handler:
        audited = name not in ("orders", "positions")

        async def run(args: Args) -> Args:
            now = self.clock.now_ns()
            if audited:
                self.oms.journal.record_command(now, "", name, args, "bus")
            try:
                return handler(args, now)
            except BadRequest as exc:
                raise CommandRejected(str(exc)) from None

        return run

    def _order(self, order: Order) -> Args:
        instrument = self.oms.instrument(order.instrument_id)
        assert instrument is not None
        return msgspec.to_builtins(order_row(order, instrument))

    # --- handlers ----------------------------------------------------------------------------

    def submit(self, args: Args, now: int) -> Args:
        request = parse_order_request(args, self.oms.market)
        order, new = self.oms.submit(request, now)
        result = {"order": self._order(order), "duplicate": not new}
        if order.status is OrderStatus.DENIED:
            raise CommandRejected(f"denied by risk ({order.reason})", result)
        return result

    def cancel(self, args: Args, now: int) -> Args:
        client_order_id = client_order_id_of(args)
        if client_order_id is None:
            raise BadRequest("missing field 'client_order_id'")
        return {"order": self._order(self.oms.cancel(client_order_id, now))}

    def cancel_all(self, args: Args, now: int) -> Args:
        instrument = args.get("instrument")
        instrument_id = None
        if instrument is not None:
            instrument_id = str(instrument_of(self.oms.market, instrument).id)
        return {"canceled": self.oms.cancel_all(now, instrument_id)}

    def replace(self, args: Args, now: int) -> Args:
        client_order_id = client_order_id_of(args)
        if client_order_id is None:
            raise BadRequest("missing field 'client_order_id'")
        old = self.oms.orders.get(client_order_id)
        if old is None:
            raise BadRequest(f"unknown order id {client_order_id!r}")
        instrument = self.oms.instrument(old.instrument_id)
        assert instrument is not None
        price = args.get("price")
        quantity = args.get("quantity")
        if price is None and quantity is None:
            raise BadRequest("give a new 'price' and/or 'quantity'")
        new = self.oms.replace(
            client_order_id,
            now,
            price_raw=price_raw_of(str(price), instrument) if price is not None else None,
            quantity_raw=(
                quantity_raw_of(str(quantity), instrument) if quantity is not None else None
            ),
        )
        result = {"order": self._order(new), "replaced": client_order_id}
        if new.status is OrderStatus.DENIED:
            raise CommandRejected(f"denied by risk ({new.reason})", result)
        return result

    def orders(self, args: Args, now: int) -> Args:
        only_open = bool(args.get("open", False))
        orders = self.oms.open.values() if only_open else self.oms.orders.values()
        return {"orders": [self._order(order) for order in orders]}

    def positions(self, args: Args, now: int) -> Args:
        rows = [msgspec.to_builtins(row) for row in position_rows(self.oms)]
        balances = [msgspec.to_builtins(row) for row in balance_rows(self.oms.account)]
        return {"positions": rows, "balances": balances}

    def kill(self, args: Args, now: int) -> Args:
        flatten = args.get("flatten", False)
        if not isinstance(flatten, bool):
            raise BadRequest(f"flatten must be true or false, got {flatten!r}")
        reason = args.get("reason") or "kill switch pressed"
        canceled, flattened = self.oms.kill(now, flatten=flatten, reason=str(reason))
        return {"canceled": canceled, "flatten": flattened}

    def kill_reset(self, args: Args, now: int) -> Args:
        self.oms.reset_kill()
        return {}

    def arm(self, args: Args, now: int) -> Args:
        venue = self._live_venue(args)
        self.oms.set_armed(venue, armed=True)
        return {"armed_venues": sorted(self.oms.risk_state.armed_venues)}

    def disarm(self, args: Args, now: int) -> Args:
        venue = self._live_venue(args)
        self.oms.set_armed(venue, armed=False)
        return {"armed_venues": sorted(self.oms.risk_state.armed_venues)}

    def _live_venue(self, args: Args) -> str:
        venue = args.get("venue")
        if not isinstance(venue, str) or not venue:
            raise BadRequest(f"field 'venue' must be a venue code, got {venue!r}")
        venue = venue.upper()
        if venue not in self.live_venues:
            live = ", ".join(sorted(self.live_venues)) or "none"
            raise BadRequest(
                f"{venue} is not a live venue of this engine (live venues: {live}); "
                "paper trading needs no arming"
            )
        return venue

    def protect(self, args: Args, now: int) -> Args:
        instrument = instrument_of(self.oms.market, args.get("instrument"))
        instrument_id = str(instrument.id)
        position = self.oms.positions.get(instrument_id)
        if position is None or position.is_flat:
            raise BadRequest(f"no open position in {instrument_id} to protect")
        stop = args.get("stop_loss")
        target = args.get("take_profit")
        trailing = args.get("trailing_pct")
        self.oms.protect(
            instrument_id,
            stop_loss_raw=price_raw_of(str(stop), instrument, "stop_loss") if stop else None,
            take_profit_raw=(
                price_raw_of(str(target), instrument, "take_profit") if target else None
            ),
            trailing_pct=_percent(trailing) if trailing else None,
        )
        state = self.oms.market_state(instrument_id)
        assert state is not None
        row = position_row(
            position, instrument, self.oms.mark_price(state), self.oms.exit_levels(instrument_id)
        )
        return {"position": msgspec.to_builtins(row)}


def _percent(value: object) -> Decimal:
    try:
        pct = Decimal(str(value))
    except InvalidOperation:
        raise BadRequest(f"trailing_pct must be a number of percent, got {value!r}") from None
    if not pct.is_finite() or not 0 < pct < 100:
        raise BadRequest(f"trailing_pct must be between 0 and 100, got {value!r}")
    return pct
