"""The trading commands on the bus (``order.submit``, ``order.cancel`` …; docs/trading-core.md).

Each handler gets its command's typed arguments (checked when the command was decoded), checks
what needs the market (a :class:`BadRequest` becomes a rejection naming the field and the value,
and changes nothing), records the command in the journal's audit trail, and calls the OMS.
Results are the typed structs of :mod:`engine.protocol.results`, carrying the rows the bus
publishes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from engine.commands import CommandRejected, CommandRouter
from engine.domain.clock import Clock
from engine.domain.orders import Order, OrderStatus
from engine.oms.oms import Oms
from engine.oms.order_requests import (
    BadRequest,
    instrument_of,
    parse_order_request,
    price_raw_of,
    quantity_raw_of,
)
from engine.oms.rows import balance_rows, order_row, position_row, position_rows
from engine.protocol import commands as c
from engine.protocol import results as r
from engine.protocol.limits import check_decimal
from engine.protocol.trading import OrderRow

A = TypeVar("A", bound=c.Args)
AUDIT_SKIPPED = frozenset({"orders", "positions"})
"""Read-only commands: not recorded in the audit trail."""


class TradingCommands:
    """Registers the trading command handlers on a :class:`CommandRouter`."""

    def __init__(self, oms: Oms, clock: Clock, *, live_venues: frozenset[str]) -> None:
        self.oms = oms
        self.clock = clock
        self.live_venues = live_venues

    def register(self, router: CommandRouter) -> None:
        self._add(router, "order.submit", self.submit)
        self._add(router, "order.cancel", self.cancel)
        self._add(router, "order.cancel_all", self.cancel_all)
        self._add(router, "order.replace", self.replace)
        self._add(router, "orders", self.orders)
        self._add(router, "positions", self.positions)
        self._add(router, "kill", self.kill)
        self._add(router, "kill.reset", self.kill_reset)
        self._add(router, "arm", self.arm)
        self._add(router, "disarm", self.disarm)
        self._add(router, "protect", self.protect)

    def _add(self, router: CommandRouter, name: str, handler: Callable[[A, int], r.Result]) -> None:
        router.register(name, self._wrap(name, handler))

    def _wrap(
        self, name: str, handler: Callable[[A, int], r.Result]
    ) -> Callable[[A], Awaitable[r.Result]]:
        audited = name not in AUDIT_SKIPPED

        async def run(args: A) -> r.Result:
            now = self.clock.now_ns()
            if audited:
                # The typed arguments: every field is bounded, so the audit row is too.
                audit: dict[str, Any] = msgspec.to_builtins(args)
                self.oms.journal.record_command(now, "", name, audit, "bus")
            try:
                return handler(args, now)
            except BadRequest as exc:
                raise CommandRejected(str(exc)) from None

        return run

    def _order(self, order: Order) -> OrderRow:
        instrument = self.oms.instrument(order.instrument_id)
        assert instrument is not None
        return order_row(order, instrument)

    # --- handlers ----------------------------------------------------------------------------

    def submit(self, args: c.OrderSubmitArgs, now: int) -> r.SubmitResult:
        request = parse_order_request(args, self.oms.market)
        order, new = self.oms.submit(request, now)
        result = r.SubmitResult(order=self._order(order), duplicate=not new)
        if order.status is OrderStatus.DENIED:
            raise CommandRejected(f"denied by risk ({order.reason})", result)
        return result

    def cancel(self, args: c.OrderCancelArgs, now: int) -> r.OrderResult:
        return r.OrderResult(order=self._order(self.oms.cancel(args.client_order_id, now)))

    def cancel_all(self, args: c.OrderCancelAllArgs, now: int) -> r.CanceledResult:
        instrument_id = None
        if args.instrument is not None:
            instrument_id = str(instrument_of(self.oms.market, args.instrument).id)
        return r.CanceledResult(canceled=self.oms.cancel_all(now, instrument_id))

    def replace(self, args: c.OrderReplaceArgs, now: int) -> r.ReplaceResult:
        old = self.oms.orders.get(args.client_order_id)
        if old is None:
            raise BadRequest(f"unknown order id {args.client_order_id!r}")
        instrument = self.oms.instrument(old.instrument_id)
        assert instrument is not None
        if args.price is None and args.quantity is None:
            raise BadRequest("give a new 'price' and/or 'quantity'")
        new = self.oms.replace(
            args.client_order_id,
            now,
            price_raw=price_raw_of(args.price, instrument) if args.price is not None else None,
            quantity_raw=(
                quantity_raw_of(args.quantity, instrument) if args.quantity is not None else None
            ),
        )
        result = r.ReplaceResult(order=self._order(new), replaced=args.client_order_id)
        if new.status is OrderStatus.DENIED:
            raise CommandRejected(f"denied by risk ({new.reason})", result)
        return result

    def orders(self, args: c.OrdersArgs, now: int) -> r.OrdersResult:
        orders = self.oms.open.values() if args.open else self.oms.orders.values()
        return r.OrdersResult(orders=[self._order(order) for order in orders])

    def positions(self, args: c.NoArgs, now: int) -> r.PositionsResult:
        return r.PositionsResult(
            positions=position_rows(self.oms), balances=balance_rows(self.oms.account)
        )

    def kill(self, args: c.KillArgs, now: int) -> r.KillResult:
        reason = args.reason or "kill switch pressed"
        canceled, flattened = self.oms.kill(now, flatten=args.flatten, reason=reason)
        return r.KillResult(canceled=canceled, flatten=flattened)

    def kill_reset(self, args: c.NoArgs, now: int) -> r.EmptyResult:
        self.oms.reset_kill()
        return r.EmptyResult()

    def arm(self, args: c.VenueArgs, now: int) -> r.ArmResult:
        self.oms.set_armed(self._live_venue(args), armed=True)
        return r.ArmResult(armed_venues=sorted(self.oms.risk_state.armed_venues))

    def disarm(self, args: c.VenueArgs, now: int) -> r.ArmResult:
        self.oms.set_armed(self._live_venue(args), armed=False)
        return r.ArmResult(armed_venues=sorted(self.oms.risk_state.armed_venues))

    def _live_venue(self, args: c.VenueArgs) -> str:
        venue = args.venue.upper()
        if venue not in self.live_venues:
            live = ", ".join(sorted(self.live_venues)) or "none"
            raise BadRequest(
                f"{venue} is not a live venue of this engine (live venues: {live}); "
                "paper trading needs no arming"
            )
        return venue

    def protect(self, args: c.ProtectArgs, now: int) -> r.ProtectResult:
        instrument = instrument_of(self.oms.market, args.instrument)
        instrument_id = str(instrument.id)
        position = self.oms.positions.get(instrument_id)
        if position is None or position.is_flat:
            raise BadRequest(f"no open position in {instrument_id} to protect")
        stop, target, trailing = args.stop_loss, args.take_profit, args.trailing_pct
        self.oms.protect(
            instrument_id,
            stop_loss_raw=price_raw_of(stop, instrument, "stop_loss") if stop else None,
            take_profit_raw=(price_raw_of(target, instrument, "take_profit") if target else None),
            trailing_pct=_percent(trailing) if trailing else None,
        )
        state = self.oms.market_state(instrument_id)
        assert state is not None
        row = position_row(
            position, instrument, self.oms.mark_price(state), self.oms.exit_levels(instrument_id)
        )
        return r.ProtectResult(position=row)


def _percent(value: str | float) -> Decimal:
    try:
        pct = Decimal(check_decimal(str(value), "trailing_pct"))
    except ValueError:
        raise BadRequest(f"trailing_pct must be a number of percent, got {value!r}") from None
    if not pct.is_finite() or not 0 < pct < 100:
        raise BadRequest(f"trailing_pct must be between 0 and 100, got {value!r}")
    return pct
