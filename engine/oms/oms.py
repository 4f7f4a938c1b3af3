"""The order management system: the one place where orders change.

Flow (docs/trading-core.md): request → pre-trade risk → journal → venue; venue events → order state
machine → positions and account → journal → bus. Everything here is synchronous and runs on the
engine's event loop, so a command and the market loop never interleave inside an operation; the
journal commit (SQLite WAL) sits on that path on purpose: an order does not leave, and no one hears
of an event, before it is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from engine.domain.fixed_point import format_raw
from engine.domain.instrument import Instrument
from engine.domain.order_venue import OrderVenue
from engine.domain.orders import (
    AnyOrderEvent,
    InvalidTransition,
    Order,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.domain.positions import Position
from engine.journal import Journal
from engine.market_state import InstrumentState, MarketState
from engine.oms.account import PaperAccount
from engine.oms.check_bands import mark_bands
from engine.oms.order_requests import BadRequest, OrderRequest
from engine.protocol.trading import RiskState as RiskStatePayload
from engine.risk import (
    EXIT_STRATEGY_ID,
    PostTradeRisk,
    PreTradeRisk,
    ProtectiveExits,
    RiskLimits,
    RiskState,
    gross_exposure,
    stale_feeds,
)
from engine.risk.post_trade import as_decimal, trading_day_span

log = logging.getLogger("stom.oms")

CHECK_INTERVAL_NS = 100_000_000
"""Protective exits, the feed-staleness view and post-trade limits are checked this often."""

NOT_ON_BUS = {"bus": False}
"""Log extra for lines the bus already carries as events (the console formats fills itself)."""

RISK_SAVE_INTERVAL_NS = 5_000_000_000
"""How often the day's equity marks are journaled when they changed."""

OrderListener = Callable[[AnyOrderEvent, Order], None]


class Oms:
    """Orders, positions and the paper account of one engine, rebuilt from the journal."""

    def __init__(
        self,
        *,
        market: MarketState,
        exchange: OrderVenue,
        journal: Journal,
        account: PaperAccount,
        pre_trade: PreTradeRisk,
        post_trade: PostTradeRisk,
        exits: ProtectiveExits,
        risk_state: RiskState,
        limits: RiskLimits,
    ) -> None:
        self.market = market
        self.exchange = exchange
        self.journal = journal
        self.account = account
        self.pre_trade = pre_trade
        self.post_trade = post_trade
        self.exits = exits
        self.risk_state = risk_state
        self.limits = limits
        self.orders: dict[str, Order] = {}
        self.open: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.listeners: list[OrderListener] = []
        """Called after each event is journaled and applied (the bus publisher, the log)."""
        self.on_state_change: Callable[[], None] = lambda: None
        """Called when risk state, exits or the account change outside an order event."""
        self.view = OmsRiskView(self)
        self.stale: dict[str, str] = {}
        """Instruments whose feed is silent, by reason (refreshed every check interval)."""
        self.next_check_ns = 0
        """When :meth:`pump` runs the periodic risk checks next (replay or engine time)."""
        self._next_risk_save_ns = 0
        self.report_stale = True
        """Refresh :attr:`stale` at each check (for the risk payload). A backtest, which has no
        payload to publish and whose orders are checked for staleness one by one anyway, turns
        it off."""
        self.journal_risk = True
        """Journal the day's equity marks every few seconds when they changed, so a restart
        keeps them. A backtest, whose journal is scratch and removed at the end, turns it off
        (a kill still journals the risk state)."""
        self._risk_saved: dict[str, object] = {}
        self._fills = 0
        self.idle_until_ns = 0
        """Before this (replay or engine time; the next trading day), with no fill since and
        the mark of every held instrument still as in :attr:`idle_marks`, a periodic check
        would do nothing but set :attr:`next_check_ns`: the last one changed nothing, with no
        exit armed and nothing to refresh or journal (a backtest's OMS). 0: not so. A
        backtest's hot loop moves the check on itself then."""
        self.idle_marks: dict[int, int] = {}
        """Market index -> :meth:`mark_price` of each instrument held at that check."""
        self.idle_bands: dict[int, tuple[int, int]] = {}
        """Market index -> the marks of that held instrument at which, with the rest as in
        :attr:`idle_marks`, a check would change nothing but the latest equity
        (:mod:`engine.oms.check_bands`); the hot loop puts such a check off
        (:meth:`defer_check`)."""
        self.deferred: tuple[int, int, int] | None = None
        """The check put off last, ``(now_ns, index, mark)``, until :meth:`settle`."""
        self._flat_key: tuple[int, ...] | None = None
        """:meth:`_flat_seen` at the last check when every position was flat (None: one was
        held): while it is the same, equity cannot have moved."""
        self._id_counter = 0
        self._id_base = journal.last_seq() + 1

    # --- lookups -----------------------------------------------------------------------------

    def instrument(self, instrument_id: str) -> Instrument | None:
        state = self.market_state(instrument_id)
        return state.instrument if state is not None else None

    def market_state(self, instrument_id: str) -> InstrumentState | None:
        return self.market.get(instrument_id)

    # --- requests ----------------------------------------------------------------------------

    def submit(
        self, request: OrderRequest, now_ns: int, *, replaces: str | None = None
    ) -> tuple[Order, bool]:
        """Submit (or deny) an order; returns it and whether it is new (False: a repeat id)."""
        coid = request.client_order_id
        if coid is not None and coid in self.orders:
            return self.orders[coid], False
        submitted = OrderSubmitted(
            ts=now_ns,
            client_order_id=coid or self._new_id(),
            instrument_id=str(request.instrument.id),
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            quantity_raw=request.quantity_raw,
            price_raw=request.price_raw,
            strategy_id=request.strategy_id,
            replaces=replaces,
        )
        denial = self.pre_trade.check(submitted, self.view, now_ns)
        if denial is not None:
            return self.deny(submitted, denial.rule, denial.reason), True
        self.journal.append([submitted])
        order = Order(submitted)
        self.orders[order.client_order_id] = order
        self.open[order.client_order_id] = order
        self.account.lock(order, request.instrument, self.lock_price(order, request.instrument))
        self.exchange.submit(order, now_ns)
        self._emit(submitted, order)
        return order, True

    def deny(self, submitted: OrderSubmitted, rule: str, reason: str) -> Order:
        """Journal and announce ``submitted`` as denied by ``rule`` (pre-trade risk, or a
        strategy's own budget in :mod:`engine.strategy.context`); nothing reaches the venue."""
        denied = OrderDenied(
            **{field: getattr(submitted, field) for field in submitted.__struct_fields__},
            rule=rule,
            reason=reason,
        )
        self.journal.append([denied])
        order = Order(denied)
        self.orders[order.client_order_id] = order
        log.warning("order %s denied by risk (%s): %s", order.client_order_id, rule, reason)
        self._emit(denied, order)
        return order

    def new_client_order_id(self) -> str:
        """A fresh client order id, unique in this journal."""
        return self._new_id()

    def cancel(self, client_order_id: str, now_ns: int, *, reason: str = "") -> Order:
        order = self.orders.get(client_order_id)
        if order is None:
            raise BadRequest(f"unknown order id {client_order_id!r}")
        if not order.is_open:
            raise BadRequest(f"order {client_order_id} is already {order.status.value}")
        if order.status is OrderStatus.PENDING_CANCEL:
            return order
        event = OrderPendingCancel(ts=now_ns, client_order_id=client_order_id)
        self.journal.append([event])
        order.apply(event)
        self.exchange.cancel(client_order_id, now_ns)
        self._emit(event, order)
        if reason:
            log.info("cancelling %s: %s", client_order_id, reason)
        return order

    def cancel_all(self, now_ns: int, instrument_id: str | None = None) -> list[str]:
        ids = [
            order.client_order_id
            for order in list(self.open.values())
            if order.status is not OrderStatus.PENDING_CANCEL
            and (instrument_id is None or order.instrument_id == instrument_id)
        ]
        for client_order_id in ids:
            self.cancel(client_order_id, now_ns)
        return ids

    def replace(
        self, client_order_id: str, now_ns: int, *, price_raw: int | None, quantity_raw: int | None
    ) -> Order:
        """Cancel/replace: the new order passes risk first; a denial leaves the old one working."""
        old = self.orders.get(client_order_id)
        if old is None:
            raise BadRequest(f"unknown order id {client_order_id!r}")
        if not old.is_open or old.status is OrderStatus.PENDING_CANCEL:
            raise BadRequest(f"order {client_order_id} is {old.status.value}: nothing to replace")
        if old.order_type is not OrderType.LIMIT:
            raise BadRequest(f"order {client_order_id} is a market order: nothing to replace")
        instrument = self.instrument(old.instrument_id)
        assert instrument is not None
        request = OrderRequest(
            instrument=instrument,
            side=old.side,
            order_type=old.order_type,
            time_in_force=old.time_in_force,
            quantity_raw=quantity_raw if quantity_raw is not None else old.leaves_raw,
            price_raw=price_raw if price_raw is not None else old.price_raw,
            strategy_id=old.strategy_id,
        )
        # The old order's reservation and open-order slot would count twice against the new one.
        self.open.pop(client_order_id)
        self.account.release(client_order_id)
        try:
            new, _ = self.submit(request, now_ns, replaces=client_order_id)
        finally:
            self.open[client_order_id] = old
            if old.is_open:
                self.account.lock(old, instrument, self.lock_price(old, instrument))
        if new.status is not OrderStatus.DENIED:
            self.cancel(client_order_id, now_ns, reason=f"replaced by {new.client_order_id}")
        return new

    def kill(self, now_ns: int, *, flatten: bool, reason: str) -> tuple[list[str], list[str]]:
        """Kill switch: block entries, cancel every open order, optionally flatten positions."""
        self.risk_state.trip(reason)
        self.journal.append([], state={"risk": self.risk_state.to_dict()})
        log.warning("KILL SWITCH: %s", reason)
        canceled = self.cancel_all(now_ns)
        flattened: list[str] = []
        if flatten:
            for position in list(self.positions.values()):
                order = self._close_position(position, now_ns, "kill")
                if order is not None:
                    flattened.append(order.client_order_id)
        self.on_state_change()
        return canceled, flattened

    def reset_kill(self) -> None:
        self.risk_state.reset_kill()
        self.journal.append([], state={"risk": self.risk_state.to_dict()})
        log.warning("kill switch reset: entries allowed again")
        self.on_state_change()

    def set_armed(self, venue: str, *, armed: bool) -> None:
        if armed:
            self.risk_state.arm(venue)
        else:
            self.risk_state.disarm(venue)
        self.journal.append([], state={"risk": self.risk_state.to_dict()})
        log.warning("%s %s for live orders", venue, "ARMED" if armed else "disarmed")
        self.on_state_change()

    def protect(
        self,
        instrument_id: str,
        *,
        stop_loss_raw: int | None,
        take_profit_raw: int | None,
        trailing_pct: Decimal | None,
    ) -> None:
        self.exits.set(
            instrument_id,
            stop_loss_raw=stop_loss_raw,
            take_profit_raw=take_profit_raw,
            trailing_pct=trailing_pct,
        )
        self.journal.append([], state={"exits": self.exits.to_dict()})
        self.on_state_change()

    def exit_levels(self, instrument_id: str) -> tuple[int | None, int | None, int | None]:
        levels = self.exits.levels(instrument_id)
        if levels is None:
            return (None, None, None)
        return (levels.stop_loss_raw, levels.take_profit_raw, levels.trailing_stop_raw)

    def _close_position(self, position: Position, now_ns: int, why: str) -> Order | None:
        if position.is_flat:
            return None
        instrument = self.instrument(position.instrument_id)
        if instrument is None:
            return None
        side = OrderSide.SELL if position.quantity_raw > 0 else OrderSide.BUY
        # What the account holds may be off the lot grid (a fee taken in the base asset): close
        # the whole lots, never more than is held; the dust below one lot cannot be sold.
        lot = instrument.lot_size_raw
        quantity_raw = abs(position.quantity_raw) // lot * lot
        if quantity_raw <= 0:
            return None
        request = OrderRequest(
            instrument=instrument,
            side=side,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            quantity_raw=quantity_raw,
            price_raw=0,
            strategy_id=why,
        )
        order, _ = self.submit(request, now_ns)
        return order

    # --- venue events ------------------------------------------------------------------------

    def pump(self, now_ns: int) -> None:
        """Run the venue up to ``now_ns`` and take in its events; periodic risk checks."""
        if self.deferred is not None:
            self.settle()
        exchange = self.exchange
        if exchange.has_work:  # otherwise nothing is queued on the venue to fall due
            exchange.advance(now_ns)
        events = exchange.drain()
        if events:
            self.apply_venue_events(events)
        if now_ns >= self.next_check_ns:
            self.next_check_ns = now_ns + CHECK_INTERVAL_NS
            self._periodic(now_ns)

    def check(self, now_ns: int) -> None:
        """The periodic risk check due at ``now_ns``: :meth:`pump` when the venue has nothing
        for it (a backtest's hot loop, which knows that)."""
        if self.deferred is not None:
            self.settle()
        self.next_check_ns = now_ns + CHECK_INTERVAL_NS
        self._periodic(now_ns)

    def defer_check(self, now_ns: int, index: int, mark: int) -> None:
        """Put off the check due at ``now_ns``, instrument ``index``'s mark being ``mark``, a
        mark inside its :attr:`idle_bands` (the caller has checked, and that nothing else has
        moved since the last check: no fill, the same day): it would change nothing but the
        latest equity, which :meth:`settle` records. Later checks put off replace it."""
        self.next_check_ns = now_ns + CHECK_INTERVAL_NS
        self.idle_marks[index] = mark  # (what that check leaves: the next at it is idle)
        self.deferred = (now_ns, index, mark)

    def settle(self) -> None:
        """Run the check :meth:`defer_check` put off, at its time and mark, if there is one
        (before anything that reads the risk state or moves the market on)."""
        deferred = self.deferred
        if deferred is None:
            return
        self.deferred = None
        now_ns, index, mark = deferred
        self._periodic(now_ns, {index: mark})

    def apply_venue_events(self, events: list[AnyOrderEvent]) -> None:
        applied: list[tuple[AnyOrderEvent, Order]] = []
        touched: dict[str, Position] = {}
        ended_exits: list[tuple[Order, int]] = []
        for event in events:
            order = self.orders.get(event.client_order_id)
            if order is None:
                log.error("venue event for unknown order %s ignored", event.client_order_id)
                continue
            if isinstance(event, OrderCancelRejected) and not order.is_open:
                # The cancel lost the race to the last fill (or the order had already ended).
                log.info("cancel of %s came too late: it is %s", order.client_order_id,
                         order.status.value)  # fmt: skip
                continue
            try:
                order.apply(event)
            except InvalidTransition as exc:
                log.error("venue event ignored: %s", exc)
                continue
            applied.append((event, order))
            if isinstance(event, OrderFilled):
                touched[order.instrument_id] = self._on_fill(order, event)
            if not order.is_open:
                ended = self.open.pop(order.client_order_id, None)
                self.account.release(order.client_order_id)
                if ended is not None and order.strategy_id == EXIT_STRATEGY_ID:
                    ended_exits.append((order, event.ts))
        if not applied:
            return
        state: dict[str, object] = {}
        for instrument_id, position in touched.items():
            instrument = self.instrument(instrument_id)
            if instrument is not None:
                self.exits.on_position(instrument_id, position, instrument)
        for order, ended_ns in ended_exits:
            self._exit_ended(order, ended_ns)
        if touched:
            state["exits"] = self.exits.to_dict()
        self.journal.append(
            [event for event, _ in applied],
            positions=[(position, "paper") for position in touched.values()],
            state=state,
        )
        for event, order in applied:
            self._emit(event, order)
            if isinstance(event, OrderFilled):
                self._log_fill(event, order)
            elif isinstance(event, OrderRejected | OrderExpired):
                log.warning("order %s %s: %s", order.client_order_id, order.status, event.reason)
            elif isinstance(event, OrderCanceled):
                log.info("order %s cancelled", order.client_order_id)

    def _exit_ended(self, order: Order, now_ns: int) -> None:
        """A protective exit's order has ended: if the position is still there and unchanged,
        the exit fires again after a wait instead of never (its level may still be passed)."""
        instrument_id = order.instrument_id
        position = self.positions.get(instrument_id)
        if position is None or position.is_flat:
            return
        if any(
            other.strategy_id == EXIT_STRATEGY_ID and other.instrument_id == instrument_id
            for other in self.open.values()
        ):
            return  # another exit order is still working (never two at once: no over-selling)
        wait_s = self.exits.exit_failed(instrument_id, now_ns)
        if wait_s is not None:
            log.error(
                "protective exit on %s did not close the position: order %s %s (%s); the exit "
                "fires again in %g s if its level is still passed",
                order.instrument_id, order.client_order_id, order.status.value,
                order.reason or "no reason given", wait_s,
            )  # fmt: skip

    def _on_fill(self, order: Order, fill: OrderFilled) -> Position:
        self._fills += 1
        self.idle_until_ns = 0
        position = self.positions.get(order.instrument_id)
        if position is None:
            position = self.positions[order.instrument_id] = Position(order.instrument_id)
        position.apply_fill(
            order.side,
            fill.price_raw,
            fill.quantity_raw,
            fill.fee_raw,
            fill.ts,
            fee_base_raw=fill.fee_base_raw,
        )
        instrument = self.instrument(order.instrument_id)
        if instrument is not None:
            self.account.on_fill(
                order,
                instrument,
                fill.price_raw,
                fill.quantity_raw,
                fill.fee_raw,
                fee_base_raw=fill.fee_base_raw,
                fee_asset=fill.fee_asset,
                fee_charged=fill.fee_charged,
            )
        return position

    def _log_fill(self, fill: OrderFilled, order: Order) -> None:
        instrument = self.instrument(order.instrument_id)
        if instrument is None:
            return
        scale = instrument.price_precision + instrument.size_precision
        # A fee the venue took in another asset (Binance: the base asset, BNB) is named as charged.
        charged = f" charged as {fill.fee_charged} {fill.fee_asset}" if fill.fee_asset else ""
        log.info(
            "FILL %s %s %s @ %s fee %s %s%s (%s) order %s",
            order.side.value,
            instrument.format_size(fill.quantity_raw),
            order.instrument_id,
            instrument.format_price(fill.price_raw),
            format_raw(fill.fee_raw, scale),
            instrument.quote_currency,
            charged,
            fill.liquidity,
            order.client_order_id,
            extra=NOT_ON_BUS,
        )

    # --- periodic risk -----------------------------------------------------------------------

    def _periodic(self, now_ns: int, marked: dict[int, int] | None = None) -> None:
        """The periodic risk check; ``marked``: instruments' marks as they were at ``now_ns``
        (a check put off, see :meth:`settle`), in place of their marks now."""
        changed = self._update_paused(now_ns) if self.report_stale else False
        exits = self.exits
        armed = exits.armed
        if armed:
            # Only a position with an exit level can signal (a backtest with no default exits
            # has none); positions are walked in their own order, so exits fire in it.
            exits.release_due(now_ns)
            get = self.market.get
            for instrument_id, position in list(self.positions.items()):
                if not position.quantity_raw or instrument_id not in armed:
                    continue
                state = get(instrument_id)
                if state is None:
                    continue
                signal = exits.check(instrument_id, position, state)
                if signal is None:
                    continue
                order = self._close_position(position, now_ns, EXIT_STRATEGY_ID)
                if order is not None:
                    # (no order: only dust below one lot is left, which cannot be sold)
                    log.warning("protective exit on %s: %s", instrument_id, signal.reason)
                    changed = True
                    if not order.is_open:  # denied before it reached the venue
                        self._exit_ended(order, now_ns)
        # Flat, with no fill since the last check on the same day (and the same limits, state
        # and breaches): equity is what that check saw, and the update would change nothing.
        trip = None
        equity: dict[str, tuple[int, int]] = {}
        self.idle_until_ns = 0
        marks: dict[int, int] = {}  # the held instruments' marks (none while flat)
        if self._flat_key is None or self._flat_key != self._flat_seen(now_ns):
            # Equity in integers; the update makes Decimals only of what moved.
            equity = self._equity_raw(marks, marked)
            trip = self.post_trade.update_raw(now_ns, equity)
            # Held, equity moves with the marks: no key to compare. (A position held in an
            # instrument with no market state counts nowhere in equity: flat for this.)
            self._flat_key = None if marks else self._flat_seen(now_ns)
        if (
            trip is None
            and not changed
            and not self.exits.armed
            and not self.report_stale
            and not self.journal_risk
        ):
            # Until the trading day rolls, a fill comes or one of these marks moves, a check
            # changes nothing (see idle_until_ns).
            self.idle_marks = marks
            if marks:
                self.idle_bands = mark_bands(
                    now_ns, self.positions, self.market, equity, marks, self.post_trade
                )
            _, self.idle_until_ns = trading_day_span(now_ns)
        if trip is not None:
            # update() has already set the kill switch; the kill itself cancels and journals.
            self.kill(now_ns, flatten=False, reason=trip)
        elif self.journal_risk and now_ns >= self._next_risk_save_ns:
            # The day's starting equity and peak survive a restart (no daily-limit reset by
            # restarting), at the cost of one small write every few seconds.
            self._next_risk_save_ns = now_ns + RISK_SAVE_INTERVAL_NS
            saved = self.risk_state.to_dict()
            if saved != self._risk_saved:
                self.journal.append([], state={"risk": saved})
                self._risk_saved = saved
        if changed:
            self.on_state_change()

    def _flat_seen(self, now_ns: int) -> tuple[int, ...]:
        """What equity depends on while every position is flat: fills taken, the day, the
        positions, limits and risk state (by identity) and the breaches so far."""
        post_trade = self.post_trade
        risk = post_trade.state
        return (
            self._fills,
            trading_day_span(now_ns)[0],
            id(self.positions),
            len(self.positions),
            id(post_trade.limits),
            id(risk),
            len(risk.breached),
        )

    def _equity_raw(
        self, marks: dict[int, int] | None = None, marked: dict[int, int] | None = None
    ) -> dict[str, tuple[int, int]]:
        """:meth:`equity_by_currency` in integers: per quote currency, ``(raw, scale)`` at the
        largest notional scale of its instruments (a check compares these; Decimal only when
        they moved). ``marks``, if given, gets the mark of each held instrument by index;
        ``marked`` gives marks to use in place of the market's (by index)."""
        equity: dict[str, tuple[int, int]] = {}
        get = self.market.get
        for instrument_id, position in self.positions.items():
            state = get(instrument_id)
            if state is None:
                continue
            instrument = state.instrument
            quantity = position.quantity_raw
            raw = position.realized_raw - position.fees_raw
            if quantity:
                # Position.unrealized_raw at the mark price (Oms.mark_price), inlined.
                bid, ask = state.best_bid, state.best_ask
                mark = (bid + ask) // 2 if bid and ask else state.last_price
                if marked is not None:
                    mark = marked.get(state.index, mark)
                if marks is not None:
                    marks[state.index] = mark
                if mark > 0:
                    raw += mark * quantity - position.cost_raw
            scale = instrument.price_precision + instrument.size_precision
            currency = instrument.quote_currency
            held = equity.get(currency)
            if held is not None:
                total, at = held
                if at > scale:
                    raw *= 10 ** (at - scale)
                    scale = at
                elif scale > at:
                    total *= 10 ** (scale - at)
                raw += total
            equity[currency] = (raw, scale)
        return equity

    def _update_paused(self, now_ns: int) -> bool:
        """Refresh which feeds are stale (for the payload; pre-trade checks each order itself)."""
        stale = stale_feeds(self.market, now_ns, self.limits.stale_feed_ns)
        held = self.pre_trade.feed_holds.all(str(state.instrument.id) for state in self.market)
        if held:
            stale = {**held, **stale}
        changed = stale.keys() != self.stale.keys()
        self.stale = stale
        return changed

    def equity_by_currency(self) -> dict[str, Decimal]:
        """Realized minus fees plus unrealized PnL, per quote currency, over all positions."""
        return as_decimal(self._equity_raw())

    def risk_payload(self, now_ns: int) -> RiskStatePayload:
        """The retained ``risk/state`` payload, in the account's main currency."""
        limits = self.limits
        currency = next(iter(self.account.starting), "KRW")
        return self.risk_state.to_payload(
            now_ns,
            limits,
            currency=currency,
            open_orders=len(self.open),
            gross_exposure=gross_exposure(self.view, currency).total,
            stale=self.stale,
            allow_short=self.pre_trade.allow_short,
        )

    @staticmethod
    def mark_price(state: InstrumentState) -> int:
        if state.best_bid and state.best_ask:
            return (state.best_bid + state.best_ask) // 2
        return state.last_price

    # --- helpers -----------------------------------------------------------------------------

    def lock_price(self, order: Order, instrument: Instrument) -> int:
        if order.order_type is OrderType.LIMIT:
            return order.price_raw
        state = self.market_state(order.instrument_id)
        best = 0
        if state is not None:
            best = state.best_ask if order.side is OrderSide.BUY else state.best_bid
        # A market buy may walk the book: reserve up to the edge of the price band.
        return int(best * (1 + self.limits.price_band_pct / 100)) if best else 0

    def _new_id(self) -> str:
        while True:
            self._id_counter += 1
            candidate = f"O{self._id_base}-{self._id_counter}"
            if candidate not in self.orders:
                return candidate

    def _emit(self, event: AnyOrderEvent, order: Order) -> None:
        for listener in self.listeners:
            listener(event, order)

    def iter_recent(self, limit: int) -> Iterator[Order]:
        """Open orders, then the most recent closed ones, newest first."""
        yield from sorted(self.open.values(), key=lambda o: o.ts_created, reverse=True)
        closed = 0
        for order in reversed(self.orders.values()):
            if closed >= limit:
                break
            if not order.is_open:
                closed += 1
                yield order


class OmsRiskView:
    """What pre-trade risk may read of the OMS (the ``RiskView`` protocol)."""

    __slots__ = ("_oms",)

    def __init__(self, oms: Oms) -> None:
        self._oms = oms

    def instrument(self, instrument_id: str) -> Instrument | None:
        return self._oms.instrument(instrument_id)

    def market(self, instrument_id: str) -> InstrumentState | None:
        return self._oms.market_state(instrument_id)

    def position(self, instrument_id: str) -> Position | None:
        return self._oms.positions.get(instrument_id)

    def positions(self) -> Iterable[Position]:
        return self._oms.positions.values()

    def open_orders(self) -> Iterable[Order]:
        return self._oms.open.values()

    def free_balance(self, currency: str) -> Decimal:
        return self._oms.account.free(currency)
