"""The order ticket: side, type, price on the tick grid, quantity or amount, live estimates and
the pre-trade checks, in a panel docked to the right so the ladder stays in view.

The price follows the touch (the opposite best price) on every quote until the user edits it
or steps it with the keys; a price given when the ticket opens (the ladder's cursor) counts as
edited. ``m``/``l``/``i`` switch to market, limit and IOC in one key (the price and quantity
fields take only numbers, so these letters are never typing). Enter sends ``order.submit``
(through the ``submit`` callable the app gives it, which also reports the outcome); an
acceptance closes the ticket with the order id, a rejection keeps it open so the order can be
fixed and sent again. Rule and limit violations show inline with the numbers and keep Enter
from sending; limits the console does not know yet show as "not checked".
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Input, Label, RadioButton, RadioSet, Static

from engine.protocol.payloads import BookSnapshot, InstrumentInfo, Reply
from stom_tui.formatting import format_decimal, format_money
from stom_tui.ticket import (
    ORDER_KINDS,
    AmountMode,
    InstrumentRules,
    OrderKind,
    Quote,
    Side,
    TicketCheck,
    TicketDraft,
    TicketLimits,
    evaluate,
    parse_number,
)
from stom_tui.widgets.steady_input import SteadyInput

SubmitOrder = Callable[[dict[str, Any]], Awaitable[Reply | None]]
"""Sends ``order.submit`` with these arguments and reports the outcome; None: no reply."""

_KIND_LABELS: dict[OrderKind, str] = {"limit": "Limit", "market": "Market", "ioc": "IOC"}
_NUMBER_CHARACTERS = r"[0-9.,]*"
PAGE_TICKS = 10


def new_client_order_id() -> str:
    """A fresh id for one send attempt (a resend after a timeout reuses it: idempotent)."""
    return f"tui-{uuid.uuid4().hex[:20]}"


class NumberInput(SteadyInput):
    """A price or size field: digits, ``.`` and ``,`` only.

    It claims only those keys, so letter keys stay with the ticket's bindings (Textual drops a
    binding whose key the focused widget says it consumes, and an ``Input`` claims every
    printable key).
    """

    def __init__(self, value: str = "", *, id: str, disabled: bool = False) -> None:
        super().__init__(value, id=id, restrict=_NUMBER_CHARACTERS, compact=True, disabled=disabled)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and (character.isdigit() or character in ".,")


class OrderTicket(ModalScreen[str | None]):
    """A limit, market or IOC order for one instrument; dismissed with the accepted order id.

    ``limits`` (from :func:`stom_tui.ticket.ticket_limits`) are checked as the user types;
    ``price`` (the ladder's cursor) is the user's choice and does not follow the touch;
    ``quantity`` pre-fills the size (the default size of a one-key ladder order).
    """

    CSS_PATH = "../styles/order_ticket.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "send", "Send order", id="ticket_send", priority=True),
        Binding("escape", "close", "Close", id="ticket_close", priority=True),
        # Priority: a focused number field would otherwise take the key first (and drop it).
        Binding("m", "kind('market')", "Market", id="ticket_market", priority=True),
        Binding("l", "kind('limit')", "Limit", id="ticket_limit", priority=True),
        Binding("i", "kind('ioc')", "IOC", id="ticket_ioc", priority=True),
        Binding("up", "step(1)", "Price +1 tick", id="ticket_tick_up", show=False),
        Binding("down", "step(-1)", "Price −1 tick", id="ticket_tick_down", show=False),
        Binding(
            "pageup", f"step({PAGE_TICKS})", "Price +10 ticks", id="ticket_page_up", show=False
        ),
        Binding(
            "pagedown", f"step(-{PAGE_TICKS})", "Price −10 ticks", id="ticket_page_down", show=False
        ),
        Binding("ctrl+n", "toggle_notional", "Quantity or amount", id="ticket_notional"),
    ]

    def __init__(
        self,
        info: InstrumentInfo,
        side: Side,
        quote: Quote,
        submit: SubmitOrder,
        *,
        limits: TicketLimits | None = None,
        price: Decimal | None = None,
        kind: OrderKind = "limit",
        quantity: Decimal | None = None,
    ) -> None:
        super().__init__()
        self.info = info
        self.rules = InstrumentRules(info)
        self.quote = quote
        self.limits = limits
        self.side: Side = side
        self.kind: OrderKind = kind
        self.amount_mode: AmountMode = "quantity"
        self._submit = submit
        self._sending = False
        self.client_order_id = new_client_order_id()
        self.check: TicketCheck | None = None
        self.price_edited = price is not None
        """True once the user chose the price (typed, stepped, or from the ladder): it stays."""
        initial = price if price is not None else quote.opposite(side)
        self._auto_price = "" if initial is None else format_decimal(initial)
        """The price text the ticket itself last put in the field (any other text is the
        user's)."""
        self._initial_quantity = "" if quantity is None else format_decimal(quantity)

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The ticket's own keys on the bottom line, over the main screen's (inactive) ones.
        yield Footer()
        with Vertical(id="ticket-panel"):
            with Horizontal(classes="ticket-row"):
                yield Label("Side", classes="ticket-label")
                with RadioSet(id="ticket-side", compact=True):
                    yield RadioButton("Buy", self.side == "buy", id="side-buy", compact=True)
                    yield RadioButton("Sell", self.side == "sell", id="side-sell", compact=True)
            with Horizontal(classes="ticket-row"):
                yield Label("Type", classes="ticket-label")
                with RadioSet(id="ticket-kind", compact=True):
                    for kind in ORDER_KINDS:
                        label = _KIND_LABELS[kind]
                        yield RadioButton(label, kind == self.kind, id=f"kind-{kind}", compact=True)
            with Horizontal(classes="ticket-row"):
                yield Label("Price", classes="ticket-label")
                yield NumberInput(
                    self._auto_price, id="ticket-price", disabled=self.kind == "market"
                )
            yield Static(id="ticket-price-note", classes="ticket-note")
            with Horizontal(classes="ticket-row"):
                yield Label("Qty", id="ticket-amount-label", classes="ticket-label")
                yield NumberInput(self._initial_quantity, id="ticket-amount")
            with Horizontal(classes="ticket-row"):
                yield Static(id="ticket-amount-note", classes="ticket-note")
                yield Checkbox(f"in {self.rules.currency} ^n", id="ticket-notional", compact=True)
            yield Static(id="ticket-quote")
            yield Static(id="ticket-estimate")
            yield Static(id="ticket-problems")
            yield Static(id="ticket-unchecked")

    def on_mount(self) -> None:
        self._show_title()
        self.query_one("#ticket-amount", Input).focus()
        self.refresh_check()

    # --- reading the fields -------------------------------------------------------------------

    def draft(self) -> TicketDraft:
        return TicketDraft(
            side=self.side,
            kind=self.kind,
            price_text=self.query_one("#ticket-price", Input).value,
            amount_text=self.query_one("#ticket-amount", Input).value,
            amount_mode=self.amount_mode,
        )

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        button_id = event.pressed.id or ""
        if event.radio_set.id == "ticket-side":
            self.side = "sell" if button_id == "side-sell" else "buy"
            self._follow_touch()
            self._show_title()
        elif event.radio_set.id == "ticket-kind":
            kind: OrderKind = next((k for k in ORDER_KINDS if button_id == f"kind-{k}"), "limit")
            self._set_kind(kind)
        self.refresh_check()

    def on_input_changed(self, event: Input.Changed) -> None:
        # The field's current text, not the event's: several follows may be queued, and only
        # text the ticket did not put there is the user's.
        if event.input.id == "ticket-price" and event.input.value != self._auto_price:
            self.price_edited = True
        self.refresh_check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        """Switch between a quantity and an amount, carrying over what is typed."""
        previous = self.check
        self.amount_mode = "notional" if event.value else "quantity"
        label = "Amount" if event.value else "Qty"
        self.query_one("#ticket-amount-label", Label).update(label)
        carried = None
        if previous is not None:
            carried = previous.notional if event.value else previous.quantity
        if carried is not None:
            self.query_one("#ticket-amount", Input).value = format_decimal(carried)
        self.refresh_check()

    # --- actions ------------------------------------------------------------------------------

    def action_step(self, steps: int) -> None:
        """Move the limit price ``steps`` ticks (tick sizes follow the price bands); the price
        is the user's from then on."""
        if self.kind == "market":
            return
        price_input = self.query_one("#ticket-price", Input)
        price = parse_number(price_input.value) or self.quote.opposite(self.side)
        if price is None:
            return
        self.price_edited = True
        price_input.value = format_decimal(self.rules.step_price(price, steps))
        price_input.cursor_position = len(price_input.value)

    def action_kind(self, kind: OrderKind) -> None:
        """Switch to market, limit or IOC in one key."""
        self.query_one(f"#kind-{kind}", RadioButton).value = True
        self._set_kind(kind)
        self.refresh_check()

    def _set_kind(self, kind: OrderKind) -> None:
        self.kind = kind
        self._show_title()
        price_input = self.query_one("#ticket-price", Input)
        price_input.disabled = kind == "market"
        if kind != "market":
            self._follow_touch()

    def action_toggle_notional(self) -> None:
        self.query_one("#ticket-notional", Checkbox).toggle()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_send(self) -> None:
        if self._sending:
            return
        check = self.refresh_check()
        if check.args is None:
            self.app.bell()
            return
        args = {**check.args, "client_order_id": self.client_order_id}
        self._sending = True
        self.query_one("#ticket-panel").border_subtitle = "sending…"
        self.app.run_worker(self._send(args), name="order.submit", group="trading")

    async def _send(self, args: dict[str, Any]) -> None:
        try:
            reply = await self._submit(args)
        finally:
            self._sending = False
        if not self.is_attached:
            return
        self.query_one("#ticket-panel").border_subtitle = ""
        if reply is None:
            return  # no answer: keep the id, so sending again cannot make a second order
        self.client_order_id = new_client_order_id()
        if reply.status == "accepted":
            order = (reply.result or {}).get("order") or {}
            self.dismiss(order.get("client_order_id") or args["client_order_id"])

    # --- display ------------------------------------------------------------------------------

    def update_quote(self, quote: Quote) -> None:
        """New best prices: the price follows the touch unless the user chose it; the quote,
        maker/taker and the estimates are redrawn."""
        if quote == self.quote:
            return
        self.quote = quote
        if self.is_mounted:
            self._follow_touch()
            self.refresh_check()

    def update_book(self, book: BookSnapshot) -> None:
        """The instrument's book: its touch decides maker/taker and where the price follows
        (books of other instruments are ignored)."""
        if book.id == self.info.id:
            self.update_quote(Quote.from_book(book, self.quote.last))

    def update_limits(self, limits: TicketLimits) -> None:
        """New balances, positions, orders or risk state: the checks run again."""
        self.limits = limits
        if self.is_mounted:
            self.refresh_check()

    def _follow_touch(self) -> None:
        """Put the opposite best price in the price field, unless the user chose the price."""
        if self.price_edited:
            return
        touch = self.quote.opposite(self.side)
        if touch is None:
            return
        text = format_decimal(touch)
        price_input = self.query_one("#ticket-price", Input)
        if price_input.value != text:
            self._auto_price = text
            price_input.value = text
            price_input.cursor_position = len(text)

    def refresh_check(self) -> TicketCheck:
        """Re-evaluate the fields and redraw the notes, the estimate and the checks."""
        check = evaluate(self.draft(), self.rules, self.quote, self.limits)
        self.check = check
        self.query_one("#ticket-price-note", Static).update(self._price_note())
        self.query_one("#ticket-amount-note", Static).update(self._amount_note(check))
        self.query_one("#ticket-quote", Static).update(self._quote_text())
        self.query_one("#ticket-estimate", Static).update(self._estimate_text(check))
        problems = self.query_one("#ticket-problems", Static)
        if check.problems:
            problems.update(Text("\n".join(f"✗ {problem}" for problem in check.problems)))
        elif check.args is not None:
            problems.update(Text("✓ no rule broken"))
        else:
            problems.update("")
        problems.set_class(not check.problems, "-clear")
        unchecked = f"? not checked: {'; '.join(check.unchecked)}" if check.unchecked else ""
        self.query_one("#ticket-unchecked", Static).update(Text(unchecked))
        return check

    def _show_title(self) -> None:
        panel = self.query_one("#ticket-panel")
        panel.set_class(self.side == "buy", "-buy")
        panel.set_class(self.side == "sell", "-sell")
        kind = _KIND_LABELS[self.kind]
        # The order type in words too: the radio buttons tell it by colour only.
        panel.border_title = f"{self.side.capitalize()} {kind} {self.info.id} · {self.info.name}"

    def _price_note(self) -> str:
        currency = self.rules.currency
        if self.kind == "market":
            price = self.quote.opposite(self.side)
            return f"market ≈ {format_decimal(price)} {currency}"
        price = parse_number(self.query_one("#ticket-price", Input).value)
        tick = self.rules.tick_at(price) if price is not None and price > 0 else None
        return f"{currency} · tick {format_decimal(tick)} ↑↓" if tick is not None else currency

    def _amount_note(self, check: TicketCheck) -> str:
        base = self.info.base_currency
        if self.amount_mode == "quantity":
            return base
        if check.quantity is None:
            return self.rules.currency
        return f"{self.rules.currency} → {format_decimal(check.quantity)} {base}"

    def _quote_text(self) -> Text:
        text = Text()
        text.append("Bid ", "dim")
        text.append(format_decimal(self.quote.best_bid), "bold")
        text.append(" · Ask ", "dim")
        text.append(format_decimal(self.quote.best_ask), "bold")
        text.append(f"\nlot {format_decimal(self.rules.lot)}", "dim")
        if self.rules.min_notional > 0:
            minimum = format_decimal(self.rules.min_notional)
            text.append(f" · min {minimum} {self.rules.currency}", "dim")
        return text

    def _estimate_text(self, check: TicketCheck) -> Text:
        currency = self.rules.currency
        if check.notional is None:
            return Text("Value –", style="dim")
        role = "taker" if check.taker else "maker"
        rate = self.info.taker_fee if check.taker else self.info.maker_fee
        rate_pct = format_decimal(Decimal(rate) * 100)
        value = f"Value ≈ {format_money(check.notional)} {currency}"
        if check.fee is None:
            return Text(value)
        total = check.notional + check.fee if self.side == "buy" else check.notional - check.fee
        verb = "to pay" if self.side == "buy" else "to receive"
        return Text(
            f"{value}\nfee ≈ {format_money(check.fee)} {currency} ({role} {rate_pct}%)\n"
            f"Total ≈ {format_money(total)} {currency} {verb}"
        )
