"""The console's trading side: order keys, commands to the engine, and what the user is told.

A plain object owned by the app (:attr:`stom_tui.app.StomApp.trading`). Commands go through the
feed's ``request`` in app workers (group ``trading``); every outcome is reported once: a toast
for what the user must notice (fills, rejections, denials, a kill), a log line for everything.
A rejection reported by the command's reply is not reported again when its order event arrives
(and vice versa). Orders placed from the price ladder are built in
:mod:`stom_tui.controllers.ladder_orders`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from engine.protocol.codec import DecodeError
from engine.protocol.payloads import BookSnapshot, Reply
from engine.protocol.results import CanceledResult, KillResult, result_of
from engine.protocol.trading import Account, OrderRow, Orders, OrderUpdate, Positions, RiskState
from stom_tui.controllers.ladder_orders import LadderOrders
from stom_tui.formatting import format_decimal, parse_decimal
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
from stom_tui.ticket import Quote, Side, TicketLimits, ticket_limits

if TYPE_CHECKING:
    from stom_tui.controllers.host import Console, Panes

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


class TradingController:
    """Order tickets, cancels, the kill switch, the ladder's orders and the trading feed."""

    def __init__(self, app: Console) -> None:
        self.app = app
        self.risk: RiskState | None = None
        self.account: Account | None = None
        self.positions: Positions | None = None
        self.orders: Orders | None = None
        self.book: BookSnapshot | None = None
        """The selected instrument's latest book (quotes for the ticket and the ladder)."""
        # A kill from this console: its reply says so, the risk state need not toast it too.
        self._kill_sent = False
        self._reported: dict[tuple[str, str], None] = {}
        self._seen_seqs: dict[int, None] = {}
        self.ladder = LadderOrders(self)

    @property
    def screen(self) -> Panes:
        return self.app.main

    # --- availability -------------------------------------------------------------------------

    def unavailable(self, action: str) -> str | None:
        """Why ``action`` cannot run now (None: it can)."""
        health = self.app.presence.evaluate(self.app.clock())
        if not health.feed_connected:
            return "no connection to the broker"
        if health.offline:
            return f"the engine is offline ({health.reason})" if health.reason else "engine offline"
        if action in ENTRY_ACTIONS and health.stale:
            return "market data is stale"
        return None

    def run_command(self, action: str) -> None:
        """From the command palette: run ``action``, or say why it cannot run."""
        reason = self.unavailable(action)
        if reason is not None:
            self.toast("warning", f"{TRADING_LABELS[action]} is unavailable: {reason}")
            return
        getattr(self, action)()

    def toast(self, severity: Severity, text: str) -> None:
        # Engine text is shown as is: never parsed as markup.
        self.app.notify(text, severity=severity, markup=False)

    def log(self, ts_ns: int, level: str, text: str, source: str = "orders") -> None:
        self.screen.log_pane.add_line(ts_ns, level, source, text)

    # --- order ticket -------------------------------------------------------------------------

    def buy(self) -> None:
        self.open_ticket("buy")

    def sell(self) -> None:
        self.open_ticket("sell")

    def open_ticket(self, side: Side, price: Decimal | None = None) -> None:
        instrument_id = self.app.selected_instrument
        info = self.app.instruments.get(instrument_id) if instrument_id else None
        if instrument_id is None or info is None:
            self.toast("warning", "No instrument selected (or its details have not arrived)")
            return
        quote = self.quote(instrument_id)
        limits = self._ticket_limits(instrument_id)
        extra: dict[str, Any] = {}
        if limits is not None:
            extra["limits"] = limits
        if price is not None:
            extra["price"] = price
        ticket = OrderTicket(info, side, quote, self.submit_order, **extra)
        self.app.push_screen(ticket)
        book = self.book
        if book is not None and book.id == instrument_id and hasattr(ticket, "update_book"):
            ticket.update_book(book)

    def _ticket_limits(self, instrument_id: str) -> TicketLimits | None:
        """Buying power and risk limits for the ticket, from the latest trading payloads."""
        info = self.app.instruments.get(instrument_id)
        if info is None:
            return None
        return ticket_limits(info, self.account, self.positions, self.risk, self.orders)

    def quote(self, instrument_id: str) -> Quote:
        """Best bid and ask: from the book when it is this instrument's, else the ticker."""
        book = self.book
        if book is not None and book.id == instrument_id and (book.bids or book.asks):
            bid = parse_decimal(book.bids[0][0]) if book.bids else None
            ask = parse_decimal(book.asks[0][0]) if book.asks else None
            return Quote(bid, ask)
        ticker = self.screen.watchlist.ticker(instrument_id)
        if ticker is None:
            return Quote()
        return Quote(parse_decimal(ticker.bid), parse_decimal(ticker.ask))

    def follow_book(self, book: BookSnapshot) -> None:
        """An open ticket for the book's instrument follows the touch and tells maker/taker."""
        self.book = book
        for screen in self.app.screen_stack:
            if isinstance(screen, OrderTicket) and screen.info.id == book.id:
                screen.update_quote(self.quote(book.id))
                if hasattr(screen, "update_book"):
                    screen.update_book(book)

    def _follow_limits(self) -> None:
        for screen in self.app.screen_stack:
            if isinstance(screen, OrderTicket) and hasattr(screen, "update_limits"):
                limits = self._ticket_limits(screen.info.id)
                if limits is not None:
                    screen.update_limits(limits)

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

    def cancel_order(self) -> None:
        pane = self.screen.orders_pane
        if pane.region.area == 0:
            self.screen.show_view("orders")
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
        self.cancel(order.client_order_id)

    def cancel(self, client_order_id: str) -> None:
        """Send ``order.cancel`` for one order (in a worker) and report the outcome."""
        self.app.run_worker(self._cancel(client_order_id), name="order.cancel", group="trading")

    async def _cancel(self, client_order_id: str) -> None:
        reply = await self.send_command("order.cancel", {"client_order_id": client_order_id})
        ident = short_id(client_order_id)
        if reply is None:
            return
        if reply.status == "accepted":
            self.toast("information", f"Cancel sent for order {ident}")
        else:
            self.toast("error", f"Cancel of order {ident}: {reply.reason or 'rejected'}")

    def cancel_all(self) -> None:
        count = self.screen.orders_pane.open_count
        orders = f"{count} open order{'s' if count != 1 else ''}"
        screen = ConfirmScreen(
            "Cancel all orders",
            f"Cancel every open order on every instrument ({orders} shown)?",
            "Cancel all",
            id="confirm-cancel-all",
        )
        self.app.push_screen(screen, callback=self._cancel_all_confirmed)

    def _cancel_all_confirmed(self, confirmation: Confirmation | None) -> None:
        if confirmation is not None:
            self.app.run_worker(self._cancel_all(), name="order.cancel_all", group="trading")

    async def _cancel_all(self) -> None:
        reply = await self.send_command("order.cancel_all", {})
        if reply is None:
            return
        if reply.status != "accepted":
            self.toast("error", f"Cancel all: {reply.reason or 'rejected'}")
            return
        try:
            canceled = result_of(reply, CanceledResult).canceled
        except DecodeError as exc:
            self.toast("error", f"Cancel all: unreadable reply ({exc})")
            return
        self.toast("information", f"Cancel sent for {len(canceled)} order(s)")

    def kill(self) -> None:
        positions = self.screen.positions_pane.open_count
        plural = "position" if positions == 1 else "positions"
        screen = ConfirmScreen(
            "Kill switch",
            "Cancels every open order and blocks new entries until the kill switch is reset "
            "(command palette: Reset the kill switch).",
            "Kill",
            option_label=f"Also flatten {positions} open {plural} at market (f)",
            id="confirm-kill",
        )
        self.app.push_screen(screen, callback=self._kill_confirmed)

    def _kill_confirmed(self, confirmation: Confirmation | None) -> None:
        if confirmation is not None:
            self.app.run_worker(self._kill(confirmation.option), name="kill", group="trading")

    async def _kill(self, flatten: bool) -> None:
        self._kill_sent = True
        reply = await self.send_command("kill", {"flatten": flatten, "reason": KILL_REASON})
        if reply is None or reply.status != "accepted":
            self._kill_sent = False
            if reply is not None:
                self.toast("error", f"Kill switch: {reply.reason or 'rejected'}")
            return
        try:
            result = result_of(reply, KillResult)
        except DecodeError as exc:
            self.toast("warning", f"Kill switch on (unreadable reply: {exc})")
            return
        text = f"Kill switch on: {len(result.canceled)} order(s) cancelled"
        if flatten:
            text += f", {len(result.flatten)} position(s) closing"
        self.toast("warning", text)

    def kill_reset(self) -> None:
        self.app.run_worker(self._kill_reset(), name="kill.reset", group="trading")

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
            return await self.app.feed.request(type, args, timeout=COMMAND_TIMEOUT_S)
        except TimeoutError:
            text = (
                f"No reply to {type} within {COMMAND_TIMEOUT_S:g}s: check Orders before resending"
            )
        except ConnectionError as exc:
            text = f"{type} not sent: {exc}"
        self.toast("error", text)
        self.log(self.app.clock(), "error", text, source="app")
        return None

    # --- trading state from the feed ----------------------------------------------------------

    def orders_updated(self, orders: Orders) -> None:
        self.orders = orders
        self.screen.show_orders(orders)
        self._follow_limits()

    def positions_updated(self, positions: Positions) -> None:
        self.positions = positions
        self.screen.show_positions(positions)
        self._follow_limits()

    def account_updated(self, account: Account) -> None:
        self.account = account
        self.screen.positions_pane.set_account(account)
        self._follow_limits()

    def risk_changed(self, risk: RiskState) -> None:
        previous = self.risk
        self.risk = risk
        self.screen.status_line.show_risk(risk)
        self._follow_limits()
        was_killed = previous is not None and previous.kill_switch
        if risk.kill_switch and not was_killed:
            why = f": {risk.kill_reason}" if risk.kill_reason else ""
            if not self._kill_sent:
                self.toast("warning", f"Kill switch is ON{why}. New entries are blocked.")
            self._kill_sent = False
            self.log(risk.ts, "warning", f"kill switch on{why}", source="risk")
        elif was_killed and not risk.kill_switch:
            self.log(risk.ts, "info", "kill switch reset", source="risk")
        self._log_paused_changes(previous, risk)

    def _log_paused_changes(self, previous: RiskState | None, risk: RiskState) -> None:
        before = {p.instrument_id: p.reason for p in previous.paused} if previous else {}
        now = {p.instrument_id: p.reason for p in risk.paused}
        for instrument_id, reason in now.items():
            if instrument_id not in before:
                self.log(risk.ts, "warning", f"entries paused on {instrument_id}: {reason}", "risk")
        for instrument_id in before.keys() - now.keys():
            self.log(risk.ts, "info", f"entries resumed on {instrument_id}", "risk")

    def order_event(self, update: OrderUpdate) -> None:
        if update.seq in self._seen_seqs:
            return  # redelivered (QoS 1): already reported
        _remember(self._seen_seqs, update.seq)
        level, text = describe_event(update)
        self.log(update.ts, level, text)
        if update.fill is not None:
            self.screen.show_fill(update.order, update.fill)
        toast = toast_for_event(update)
        if toast is None:
            return
        outcome = update.event in ("denied", "rejected")
        if outcome and not self._first_report(update.order.client_order_id, update.event):
            return  # the command's reply already said so
        self.toast(toast.severity, toast.text)

    def reconciliation_reported(self, venue: str, ts: int, differences: list[str]) -> None:
        if not differences:
            self.log(ts, "info", f"reconciled with {venue}: journal and venue agree", "recon")
            return
        count = len(differences)
        self.toast("warning", f"Reconciliation with {venue}: {count} difference(s); see the log")
        for difference in differences:
            self.log(ts, "warning", f"{venue}: {difference}", "recon")

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
