"""The paper exchange: a venue-like front for the fill model, with order latency and venue ids.

Submissions and cancels each wait ``order_latency_ns`` in a queue ordered by due time, then by
arrival. A submission needs the book as of its due time, which :class:`MarketState` holds only
between batches, so submissions take effect in :meth:`PaperExchange.advance`. A cancel needs no
book, so inside :meth:`PaperExchange.on_batch` it takes effect right before the first market event
at or after its due time: a trade after the cancel took effect never fills the order. (A cancel
whose order is itself still on its way waits for :meth:`PaperExchange.advance`, which always runs
submissions and cancels in due order; a cancel that arrives before its order is rejected.) Each
order's events are drained in time order; events of different orders may interleave slightly out
of time order when a cancel ran inside a batch.
"""

from __future__ import annotations

from heapq import heappop, heappush

from engine.domain.ids import InstrumentId
from engine.domain.market_data import MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from engine.market_state import MarketState
from engine.paper.fill_model import NEVER, FillModel, InstrumentOrders
from engine.paper.queue_position import PaperOrder

SUBMIT = 0
DUPLICATE = 1
"""A submission whose client order id is already open here: rejected when it arrives."""

RESTORABLE = frozenset(
    {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL}
)

Submission = tuple[int, int, int, PaperOrder]
"""(due ns, arrival sequence, SUBMIT or DUPLICATE, the exchange's record of the order)."""
Cancel = tuple[int, int, str]
"""(due ns, arrival sequence, client order id)."""


class PaperExchange:
    """Simulated venue: matches orders against the engine's MarketState books and trades."""

    def __init__(
        self, market: MarketState, *, order_latency_ns: int = 0, id_prefix: str = "P"
    ) -> None:
        if order_latency_ns < 0:
            raise ValueError(f"order latency {order_latency_ns} ns must not be negative")
        self._market = market
        self._latency = order_latency_ns
        self._id_prefix = id_prefix
        self.outbox: list[AnyOrderEvent] = []
        """Venue events not drained yet (the fill model appends to this same list)."""
        self._model = FillModel(market, self.outbox, id_prefix)
        self._submissions: list[Submission] = []
        self._cancels: list[Cancel] = []
        self._arrivals = 0
        self._pending: dict[str, PaperOrder] = {}
        """Submissions on their way, by client order id."""
        self._accepted = 0
        self.has_work = False
        """False when nothing rests, nothing is on its way and no consumed liquidity is
        remembered: market events cannot change anything, so the engine skips :meth:`on_batch`
        and :meth:`advance`. A plain attribute (read twice per market batch), refreshed by every
        method that can change it (:meth:`_refresh`)."""
        self.in_flight = False
        """A submission or cancel is on its way (:meth:`advance` has something to fall due).
        False with ``has_work`` true: orders only rest (a backtest's hot loop can go on)."""

    # --- commands ----------------------------------------------------------------------------

    def submit(self, order: Order, now_ns: int) -> None:
        """Send ``order`` (status SUBMITTED); it becomes live at ``now_ns + order_latency_ns``."""
        if order.status is not OrderStatus.SUBMITTED:
            raise ValueError(
                f"order {order.client_order_id} is {order.status.value}; only a submitted order "
                "can be sent to the paper exchange"
            )
        record = _record(order, order.quantity_raw)
        client_order_id = order.client_order_id
        if client_order_id in self._pending or client_order_id in self._model.resting:
            kind = DUPLICATE
        else:
            self._pending[client_order_id] = record
            kind = SUBMIT
        self._arrivals += 1
        heappush(self._submissions, (now_ns + self._latency, self._arrivals, kind, record))
        self.has_work = self.in_flight = True

    def cancel(self, client_order_id: str, now_ns: int) -> None:
        """Ask to cancel; takes effect at ``now_ns + order_latency_ns`` (a fill before stays)."""
        self._arrivals += 1
        heappush(self._cancels, (now_ns + self._latency, self._arrivals, client_order_id))
        self.has_work = self.in_flight = True

    def restore(self, order: Order, now_ns: int) -> None:
        """Put an open order back after an engine restart: it rests at once with its leaves and a
        queue position re-estimated from the current book. No :class:`OrderAccepted` is emitted.

        An order that cannot rest (market, IOC or FOK, or an instrument the market does not
        know) is expired instead, since the venue would have finished it long ago.
        """
        if order.status not in RESTORABLE:
            raise ValueError(
                f"order {order.client_order_id} is {order.status.value}; only accepted, partially "
                "filled or pending-cancel orders can be restored"
            )
        client_order_id = order.client_order_id
        if client_order_id in self._pending or client_order_id in self._model.resting:
            raise ValueError(f"order {client_order_id} is already on the paper exchange")
        record = _record(order, order.leaves_raw)
        index = self._index_of(record.instrument_id)
        if index is None:
            reason = f"instrument {record.instrument_id} is not known to the market"
        elif record.is_market or record.time_in_force is not TimeInForce.GTC:
            reason = "only good-till-cancelled limit orders rest across a restart"
        else:
            record.index = index
            self._model.restore(record, now_ns)
            self._refresh()
            return
        self.outbox.append(OrderExpired(ts=now_ns, client_order_id=client_order_id, reason=reason))

    def end_restored(self, order: Order, now_ns: int, reason: str) -> None:
        """Cancel an order this exchange took in an earlier run instead of putting it back (its
        venue is live now): an :class:`OrderCanceled` with ``reason`` at the next drain."""
        self.outbox.append(
            OrderCanceled(ts=now_ns, client_order_id=order.client_order_id, reason=reason)
        )

    # --- time and market data ----------------------------------------------------------------

    def on_batch(self, batch: MarketBatch) -> None:
        """Process ``batch`` right after ``MarketState.apply(batch)``, event by event."""
        cancels = self._cancels
        due = cancels[0][0] if cancels else NEVER
        self._model.on_batch(batch, due, self._run_due_cancels)
        self._refresh()

    def advance(self, now_ns: int) -> None:
        """Carry out every submission and cancel due by ``now_ns``, in due order."""
        submissions, cancels = self._submissions, self._cancels
        while True:
            submission = submissions[0] if submissions else None
            cancel = cancels[0] if cancels else None
            if cancel is not None and (
                submission is None or (cancel[0], cancel[1]) < (submission[0], submission[1])
            ):
                if cancel[0] > now_ns:
                    break
                heappop(cancels)
                self._cancel_now(cancel[2], cancel[0])
            elif submission is not None:
                if submission[0] > now_ns:
                    break
                heappop(submissions)
                self._arrive(submission)
            else:
                break
        self._refresh()

    def drain(self) -> list[AnyOrderEvent]:
        """Venue events since the last drain, in the order they happened."""
        if not self.outbox:
            return []  # most steps: nothing happened on the venue
        events = self.outbox[:]
        self.outbox.clear()  # the fill model appends to this same list
        return events

    def open_order_ids(self) -> set[str]:
        """Resting orders and submissions on their way."""
        return set(self._model.resting) | set(self._pending)

    @property
    def next_due_ns(self) -> int | None:
        """When the next submission or cancel takes effect, if any (a backtest can cut its
        batches there so an activation sees the book exactly as of its time)."""
        submissions, cancels = self._submissions, self._cancels
        if submissions:
            due = submissions[0][0]
            return min(due, cancels[0][0]) if cancels else due
        return cancels[0][0] if cancels else None

    # --- internals ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Bring :attr:`has_work` up to date after anything that may have changed it."""
        self.in_flight = in_flight = bool(self._submissions or self._cancels)
        self.has_work = in_flight or self._model.has_work

    def resting_on(self, index: int) -> InstrumentOrders | None:
        """What rests on instrument ``index`` (orders, consumed liquidity), if anything."""
        return self._model.book_of(index)

    def rests_only_on(self, index: int) -> bool:
        """True when nothing rests on any instrument but ``index`` (or nothing at all)."""
        return self._model.only_on(index)

    def _run_due_cancels(self, ts: int) -> int:
        """Inside a batch: run the cancels due by ``ts``; return when the next one is due."""
        cancels = self._cancels
        waiting: list[Cancel] = []
        while cancels and cancels[0][0] <= ts:
            cancel = heappop(cancels)
            if cancel[2] in self._pending:
                waiting.append(cancel)  # its submission has not arrived: advance() runs both
            else:
                self._cancel_now(cancel[2], cancel[0])
        next_due = cancels[0][0] if cancels else NEVER
        for cancel in waiting:
            heappush(cancels, cancel)
        return next_due

    def _arrive(self, submission: Submission) -> None:
        due, _, kind, record = submission
        client_order_id = record.client_order_id
        if kind == DUPLICATE:
            self.outbox.append(
                OrderRejected(
                    ts=due,
                    client_order_id=client_order_id,
                    reason=f"client order id {client_order_id} is already open",
                )
            )
        else:
            del self._pending[client_order_id]
            self._activate(record, due)

    def _cancel_now(self, client_order_id: str, ts: int) -> None:
        # An order still on its way is not on the venue yet: a cancel that arrives before it
        # (sent earlier) is rejected, like a venue would.
        if self._model.cancel(client_order_id) is not None:
            self.outbox.append(OrderCanceled(ts=ts, client_order_id=client_order_id))
        else:
            self.outbox.append(
                OrderCancelRejected(
                    ts=ts,
                    client_order_id=client_order_id,
                    reason=f"order {client_order_id} is not open on the paper exchange",
                )
            )

    def _activate(self, record: PaperOrder, ts: int) -> None:
        reason = self._refusal(record)
        if reason is not None:
            self.outbox.append(
                OrderRejected(ts=ts, client_order_id=record.client_order_id, reason=reason)
            )
            return
        self._accepted += 1
        self.outbox.append(
            OrderAccepted(
                ts=ts,
                client_order_id=record.client_order_id,
                venue_order_id=f"{self._id_prefix}{self._accepted}",
            )
        )
        self._model.execute(record, ts)

    def _refusal(self, record: PaperOrder) -> str | None:
        """Why the venue refuses ``record`` (setting its instrument index if it knows it)."""
        index = self._index_of(record.instrument_id)
        if index is None:
            return f"unknown instrument {record.instrument_id}: the market has no data for it"
        record.index = index
        instrument = self._market.at(index).instrument
        if record.quantity <= 0:
            return f"quantity {instrument.format_size(record.quantity)} must be positive"
        if record.quantity % instrument.lot_size_raw:
            return (
                f"quantity {instrument.format_size(record.quantity)} is not a multiple of the "
                f"lot size {instrument.format_size(instrument.lot_size_raw)}"
            )
        if not record.is_market and not instrument.tick_table.is_on_grid(record.price):
            tick = instrument.tick_table.tick_at(record.price)
            return (
                f"price {instrument.format_price(record.price)} is off the tick grid "
                f"(tick {instrument.format_price(tick)} there)"
            )
        return None

    def _index_of(self, instrument_id: str) -> int | None:
        try:
            return self._market.index_of(InstrumentId(instrument_id))
        except (KeyError, ValueError):  # unknown, or not even SYMBOL.VENUE
            return None


def _record(order: Order, leaves: int) -> PaperOrder:
    """The exchange's own copy of what it needs from ``order``."""
    return PaperOrder(
        order.client_order_id,
        order.instrument_id,
        is_buy=order.side is OrderSide.BUY,
        is_market=order.order_type is OrderType.MARKET,
        time_in_force=order.time_in_force,
        price=order.price_raw,
        quantity=order.quantity_raw,
        leaves=leaves,
    )
