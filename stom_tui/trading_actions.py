"""The app's trading side: order keys, commands to the engine, and what the user is told.

Mixed into :class:`~stom_tui.app.StomApp`. Commands go through the feed's ``request`` in
workers (group ``trading``); every outcome is reported once: a toast for what the user must
notice (fills, rejections, denials, a kill), a log line for everything. A rejection reported by
the command's reply is not reported again when its order event arrives (and vice versa).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from engine.protocol.payloads import InstrumentInfo, Reply
from engine.protocol.trading import OrderRow, RiskState
from stom_tui.formatting import format_decimal, parse_decimal
from stom_tui.messages import (
    AccountUpdated,
    OrderEventReceived,
    OrdersUpdated,
    PositionsUpdated,
    ReconciliationReported,
    RiskStateChanged,
)
from stom_tui.order_text import (
    Severity,
    describe_event,
    is_open,
    order_summary,
    rejection_text,
    short_id,
    status_label,
    toast_for_event,
)
from stom_tui.screens.confirm import Confirmation, ConfirmScreen
from stom_tui.screens.order_ticket import OrderTicket
from stom_tui.ticket import Quote, Side

if TYPE_CHECKING:
    from stom_tui.feed import Feed
    from stom_tui.health import EnginePresence
    from stom_tui.widgets import (
        LogPane,
        OrderBookPane,
        OrdersPane,
        PositionsPane,
        StatusLine,
        WatchlistPane,
    )

COMMAND_TIMEOUT_S = 3.0
KILL_REASON = "kill switch from the console"

TRADING_ACTIONS = frozenset({"buy", "sell", "cancel_order", "cancel_all", "kill", "kill_reset"})
"""Actions that send commands: disabled while the engine cannot take them."""
ENTRY_ACTIONS = frozenset({"buy", "sell"})
"""Actions that price from market data: also disabled while the data is stale."""

TRADING_LABELS = {
    "buy": "Buy",
    "sell": "Sell",
    "cancel_order": "Cancel the selected order",
    "cancel_all": "Cancel all orders",
    "kill": "Kill switch",
    "kill_reset": "Reset the kill switch",
}

_REMEMBERED = 512
"""Order ids / event sequence numbers remembered to report each outcome once."""


class TradingActions:
    """Trading actions and trading message handlers (needs the attributes below)."""

    if TYPE_CHECKING:
        feed: Feed
        clock: Callable[[], int]
        presence: EnginePresence
        instruments: dict[str, InstrumentInfo]
        selected_instrument: str | None
        watchlist: WatchlistPane
        order_book: OrderBookPane
        orders_pane: OrdersPane
        positions_pane: PositionsPane
        log_pane: LogPane
        status_line: StatusLine

        def notify(
            self, message: str, *, title: str = "", severity: Any = ..., timeout: Any = ...,
            markup: bool = ...,
        ) -> None: ...  # fmt: skip
        def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def show_view(self, view: str) -> None: ...
        def show_view_counts(self) -> None: ...
        def take(self, message: Any) -> bool: ...
        @property
        def screen_stack(self) -> list[Any]: ...

    risk: RiskState | None = None

    def init_trading(self) -> None:
        self.risk = None
        # A kill from this console: its reply says so, the risk state need not toast it too.
        self._kill_sent = False
        self._reported: dict[tuple[str, str], None] = {}
        self._seen_seqs: dict[int, None] = {}

    # --- availability -------------------------------------------------------------------------

    def trading_unavailable(self, action: str) -> str | None:
        """Why ``action`` cannot run now (None: it can)."""
        health = self.presence.evaluate(self.clock())
        if not health.feed_connected:
            return "no connection to the broker"
        if health.offline:
            return f"the engine is offline ({health.reason})" if health.reason else "engine offline"
        if action in ENTRY_ACTIONS and health.stale:
            return "market data is stale"
        return None

    def run_trading_command(self, action: str) -> None:
        """From the command palette: run ``action``, or say why it cannot run."""
        reason = self.trading_unavailable(action)
        if reason is not None:
            self.toast("warning", f"{TRADING_LABELS[action]} is unavailable: {reason}")
            return
        getattr(self, f"action_{action}")()

    def toast(self, severity: Severity, text: str) -> None:
        # Engine text is shown as is: never parsed as markup.
        self.notify(text, severity=severity, markup=False)

    # --- order ticket -------------------------------------------------------------------------

    def action_buy(self) -> None:
        self._open_ticket("buy")

    def action_sell(self) -> None:
        self._open_ticket("sell")

    def _open_ticket(self, side: Side) -> None:
        instrument_id = self.selected_instrument
        info = self.instruments.get(instrument_id) if instrument_id else None
        if instrument_id is None or info is None:
            self.toast("warning", "No instrument selected (or its details have not arrived)")
            return
        self.push_screen(OrderTicket(info, side, self.quote(instrument_id), self.submit_order))

    def quote(self, instrument_id: str) -> Quote:
        """Best bid and ask: from the order book when it shows this instrument, else the ticker."""
        book = self.order_book.book
        if book is not None and book.id == instrument_id and (book.bids or book.asks):
            bid = parse_decimal(book.bids[0][0]) if book.bids else None
            ask = parse_decimal(book.asks[0][0]) if book.asks else None
            return Quote(bid, ask)
        ticker = self.watchlist.ticker(instrument_id)
        if ticker is None:
            return Quote()
        return Quote(parse_decimal(ticker.bid), parse_decimal(ticker.ask))

    def follow_quote(self, instrument_id: str) -> None:
        """An open ticket for ``instrument_id`` shows (and estimates market orders at) the
        current best prices; its limit price stays as typed."""
        for screen in self.screen_stack:
            if isinstance(screen, OrderTicket) and screen.info.id == instrument_id:
                screen.update_quote(self.quote(instrument_id))

    async def submit_order(self, args: dict[str, Any]) -> Reply | None:
        """Send ``order.submit`` and report the outcome (the ticket decides what to do next)."""
        reply = await self.send_command("order.submit", args)
        if reply is None:
            return None
        order = _order_in(reply.result)
        summary = order_summary(order) if order else _args_summary(args)
        if reply.status == "accepted":
            ident = f"Order {short_id(order.client_order_id)}" if order else "Order"
            self.toast("information", f"{ident} sent: {summary}")
            return reply
        reason = reply.reason or "no reason given"
        kind = "denied" if reason.startswith("denied") else "rejected"
        if order is None or self._first_report(order.client_order_id, kind):
            self.toast("error", rejection_text(summary, reason))
        return reply

    # --- cancels and the kill switch ----------------------------------------------------------

    def action_cancel_order(self) -> None:
        pane = self.orders_pane
        if pane.region.area == 0:
            self.show_view("orders")
            self.toast("information", "Choose the order in Orders, then press the cancel key")
            return
        order = pane.selected_order
        if order is None:
            self.toast("warning", "No order selected")
            return
        if not is_open(order):
            status = status_label(order.status)
            self.toast("warning", f"Order {short_id(order.client_order_id)} is {status}")
            return
        self.run_worker(self._cancel(order), name="order.cancel", group="trading")

    async def _cancel(self, order: OrderRow) -> None:
        args = {"client_order_id": order.client_order_id}
        reply = await self.send_command("order.cancel", args)
        ident = short_id(order.client_order_id)
        if reply is None:
            return
        if reply.status == "accepted":
            self.toast("information", f"Cancel sent for order {ident}")
        else:
            self.toast("error", f"Cancel of order {ident}: {reply.reason or 'rejected'}")

    def action_cancel_all(self) -> None:
        count = self.orders_pane.open_count
        orders = f"{count} open order{'s' if count != 1 else ''}"
        screen = ConfirmScreen(
            "Cancel all orders",
            f"Cancel every open order on every instrument ({orders} shown)?",
            "Cancel all",
            id="confirm-cancel-all",
        )
        self.push_screen(screen, callback=self._cancel_all_confirmed)

    def _cancel_all_confirmed(self, confirmation: Confirmation | None) -> None:
        if confirmation is not None:
            self.run_worker(self._cancel_all(), name="order.cancel_all", group="trading")

    async def _cancel_all(self) -> None:
        reply = await self.send_command("order.cancel_all", {})
        if reply is None:
            return
        if reply.status != "accepted":
            self.toast("error", f"Cancel all: {reply.reason or 'rejected'}")
            return
        canceled = (reply.result or {}).get("canceled") or []
        self.toast("information", f"Cancel sent for {len(canceled)} order(s)")

    def action_kill(self) -> None:
        positions = self.positions_pane.open_count
        plural = "position" if positions == 1 else "positions"
        screen = ConfirmScreen(
            "Kill switch",
            "Cancels every open order and blocks new entries until the kill switch is reset "
            "(command palette: Reset the kill switch).",
            "Kill",
            option_label=f"Also flatten {positions} open {plural} at market (f)",
            id="confirm-kill",
        )
        self.push_screen(screen, callback=self._kill_confirmed)

    def _kill_confirmed(self, confirmation: Confirmation | None) -> None:
        if confirmation is not None:
            self.run_worker(self._kill(confirmation.option), name="kill", group="trading")

    async def _kill(self, flatten: bool) -> None:
        self._kill_sent = True
        reply = await self.send_command("kill", {"flatten": flatten, "reason": KILL_REASON})
        if reply is None or reply.status != "accepted":
            self._kill_sent = False
            if reply is not None:
                self.toast("error", f"Kill switch: {reply.reason or 'rejected'}")
            return
        result = reply.result or {}
        text = f"Kill switch on: {len(result.get('canceled') or [])} order(s) cancelled"
        if flatten:
            text += f", {len(result.get('flatten') or [])} position(s) closing"
        self.toast("warning", text)

    def action_kill_reset(self) -> None:
        self.run_worker(self._kill_reset(), name="kill.reset", group="trading")

    async def _kill_reset(self) -> None:
        reply = await self.send_command("kill.reset", {})
        if reply is None:
            return
        if reply.status == "accepted":
            self.toast("information", "Kill switch reset: new entries allowed")
        else:
            self.toast("error", f"Kill switch reset: {reply.reason or 'rejected'}")

    async def send_command(self, type: str, args: dict[str, Any]) -> Reply | None:
        """The engine's reply, or None (said so in a toast) when it cannot be had."""
        try:
            return await self.feed.request(type, args, timeout=COMMAND_TIMEOUT_S)
        except TimeoutError:
            text = (
                f"No reply to {type} within {COMMAND_TIMEOUT_S:g}s: check Orders before resending"
            )
        except ConnectionError as exc:
            text = f"{type} not sent: {exc}"
        self.toast("error", text)
        self.log_pane.add_line(self.clock(), "error", "app", text)
        return None

    # --- trading messages ---------------------------------------------------------------------

    def on_orders_updated(self, message: OrdersUpdated) -> None:
        if not self.take(message):
            return
        self.orders_pane.update_orders(message.orders)
        self.show_view_counts()

    def on_positions_updated(self, message: PositionsUpdated) -> None:
        if not self.take(message):
            return
        self.positions_pane.update_positions(message.positions)
        self.show_view_counts()

    def on_account_updated(self, message: AccountUpdated) -> None:
        if not self.take(message):
            return
        self.positions_pane.set_account(message.account)

    def on_risk_state_changed(self, message: RiskStateChanged) -> None:
        if not self.take(message):
            return
        risk, previous = message.risk, self.risk
        self.risk = risk
        self.status_line.show_risk(risk)
        was_killed = previous is not None and previous.kill_switch
        if risk.kill_switch and not was_killed:
            why = f": {risk.kill_reason}" if risk.kill_reason else ""
            if not self._kill_sent:
                self.toast("warning", f"Kill switch is ON{why}. New entries are blocked.")
            self._kill_sent = False
            self.log_pane.add_line(risk.ts, "warning", "risk", f"kill switch on{why}")
        elif was_killed and not risk.kill_switch:
            self.log_pane.add_line(risk.ts, "info", "risk", "kill switch reset")
        self._log_paused_changes(previous, risk)

    def _log_paused_changes(self, previous: RiskState | None, risk: RiskState) -> None:
        before = {p.instrument_id: p.reason for p in previous.paused} if previous else {}
        now = {p.instrument_id: p.reason for p in risk.paused}
        for instrument_id, reason in now.items():
            if instrument_id not in before:
                text = f"entries paused on {instrument_id}: {reason}"
                self.log_pane.add_line(risk.ts, "warning", "risk", text)
        for instrument_id in before.keys() - now.keys():
            self.log_pane.add_line(risk.ts, "info", "risk", f"entries resumed on {instrument_id}")

    def on_order_event_received(self, message: OrderEventReceived) -> None:
        if not self.take(message):
            return
        update = message.update
        if update.seq in self._seen_seqs:
            return  # redelivered (QoS 1): already reported
        _remember(self._seen_seqs, update.seq)
        level, text = describe_event(update)
        self.log_pane.add_line(update.ts, level, "orders", text)
        toast = toast_for_event(update)
        if toast is None:
            return
        outcome = update.event in ("denied", "rejected")
        if outcome and not self._first_report(update.order.client_order_id, update.event):
            return  # the command's reply already said so
        self.toast(toast.severity, toast.text)

    def on_reconciliation_reported(self, message: ReconciliationReported) -> None:
        if not self.take(message):
            return
        report = message.reconciliation
        if not report.differences:
            text = f"reconciled with {report.venue}: journal and venue agree"
            self.log_pane.add_line(report.ts, "info", "recon", text)
            return
        count = len(report.differences)
        self.toast(
            "warning",
            f"Reconciliation with {report.venue}: {count} difference(s); see the log",
        )
        for difference in report.differences:
            self.log_pane.add_line(report.ts, "warning", "recon", f"{report.venue}: {difference}")

    def _first_report(self, client_order_id: str, kind: str) -> bool:
        """True the first time this order's ``kind`` (denied/rejected) is reported."""
        key = (client_order_id, kind)
        if key in self._reported:
            return False
        _remember(self._reported, key)
        return True


def _remember(seen: dict[Any, None], key: Any) -> None:
    seen[key] = None
    while len(seen) > _REMEMBERED:
        del seen[next(iter(seen))]


def _order_in(result: dict[str, Any] | None) -> OrderRow | None:
    raw = (result or {}).get("order")
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, OrderRow)
    except msgspec.ValidationError:
        return None


def _args_summary(args: dict[str, Any]) -> str:
    """``buy 0.01 KRW-BTC.SIM @ 143,302,000`` from ``order.submit`` arguments."""
    if "quantity" in args:
        amount = format_decimal(str(args["quantity"]))
    else:
        amount = f"{format_decimal(str(args.get('notional')))} worth of"
    where = f"@ {format_decimal(str(args['price']))}" if "price" in args else "at market"
    return f"{args.get('side')} {amount} {args.get('instrument')} {where}"
