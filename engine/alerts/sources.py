"""Where alerts come from: the OMS's order events, its risk state and its feed-staleness view."""

from __future__ import annotations

from engine.alerts.events import Alert, plain
from engine.alerts.router import AlertRouter
from engine.domain.fixed_point import format_raw
from engine.domain.orders import AnyOrderEvent, Order, OrderDenied, OrderFilled, OrderRejected
from engine.oms.oms import Oms


class OmsAlerts:
    """Fills and rejections as they happen; kill switch and silent feeds as they change."""

    def __init__(self, oms: Oms, router: AlertRouter) -> None:
        self.oms = oms
        self.router = router
        self._kill = (oms.risk_state.kill_switch, oms.risk_state.kill_reason)
        self._stale = set(oms.stale)
        oms.listeners.append(self.on_order_event)
        router.watchers.append(self.changes)

    def on_order_event(self, event: AnyOrderEvent, order: Order) -> None:
        """Runs inside the OMS: one string and a non-blocking enqueue, nothing else."""
        if isinstance(event, OrderFilled):
            self.router.submit("fill", self._fill_text(event, order))
        elif isinstance(event, OrderDenied):
            self.router.submit(
                "rejection",
                f"DENIED {event.side.value} {event.instrument_id} ({event.rule}): {event.reason}"
                f" [order {event.client_order_id}]",
            )
        elif isinstance(event, OrderRejected):
            self.router.submit(
                "rejection",
                f"REJECTED {order.side.value} {order.instrument_id} by the venue: {event.reason}"
                f" [order {event.client_order_id}]",
            )

    def _fill_text(self, fill: OrderFilled, order: Order) -> str:
        instrument = self.oms.instrument(order.instrument_id)
        if instrument is None:
            return f"FILL {order.side.value} {order.instrument_id} [order {order.client_order_id}]"
        fee = format_raw(fill.fee_raw, instrument.price_precision + instrument.size_precision)
        return (
            f"FILL {order.side.value} {plain(instrument.format_size(fill.quantity_raw))}"
            f" {order.instrument_id} @ {plain(instrument.format_price(fill.price_raw))}"
            f" fee {plain(fee)} {instrument.quote_currency} [order {order.client_order_id}]"
        )

    def changes(self) -> list[Alert]:
        """Polled by the router: what changed in the kill switch and the feeds since last time."""
        alerts: list[Alert] = []
        risk = self.oms.risk_state
        kill = (risk.kill_switch, risk.kill_reason)
        if kill != self._kill:
            if risk.kill_switch:
                text = f"KILL SWITCH ON: {risk.kill_reason}. New entries are blocked."
            else:
                text = "Kill switch reset: entries allowed again."
            alerts.append(Alert("risk", text))
            self._kill = kill
        stale = set(self.oms.stale)
        if lost := sorted(stale - self._stale):
            alerts.append(Alert("feed", f"Feed silent: {', '.join(lost)}; entries paused there."))
        if back := sorted(self._stale - stale):
            alerts.append(Alert("feed", f"Feed back: {', '.join(back)}."))
        self._stale = stale
        return alerts
