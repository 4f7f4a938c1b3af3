"""Orders placed from the price ladder: its ``OrderAtPrice`` and ``CancelAtPrice`` messages.

The ladder says where (instrument, side, price, limit or IOC); the console decides how much
(``[app] ladder_size``: a quantity per instrument, or an order value per quote currency) and
whether to ask first (``[app] confirm_ladder_orders``, the same confirm screen as cancel all).
The order goes out as ``order.submit`` through the trading controller, which reports it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engine.protocol.payloads import InstrumentInfo
from stom_tui.formatting import format_decimal
from stom_tui.screens.confirm import Confirmation, ConfirmScreen
from stom_tui.screens.order_ticket import new_client_order_id
from stom_tui.ticket import InstrumentRules, plain

if TYPE_CHECKING:
    from engine.protocol.payloads import Reply
    from stom_tui.controllers.host import Console
    from stom_tui.order_text import Severity

LadderKind = Literal["limit", "ioc"]


class LadderSizeError(ValueError):
    """No usable default size for an instrument (said to the user as is)."""


def ladder_quantity(info: InstrumentInfo, price: Decimal, sizes: dict[str, str]) -> Decimal:
    """The quantity of a ladder order at ``price``: the instrument's own size, else the quote
    currency's order value divided by the price and rounded down to the lot."""
    rules = InstrumentRules(info)
    if info.id in sizes:
        quantity = _decimal(sizes[info.id], f"ladder_size {info.id}")
        problem = rules.quantity_problem(quantity)
        if problem:
            raise LadderSizeError(f"[app] ladder_size for {info.id}: {problem}")
        return quantity
    currency = info.quote_currency
    if currency not in sizes:
        raise LadderSizeError(
            f"no ladder size for {info.id}: set [app] ladder_size {info.id} (a quantity) "
            f"or {currency} (an order value)"
        )
    value = _decimal(sizes[currency], f"ladder_size {currency}")
    if price <= 0:
        raise LadderSizeError(f"cannot size an order at price {format_decimal(price)}")
    quantity = rules.floor_to_lot(value / price)
    if quantity <= 0:
        raise LadderSizeError(
            f"{format_decimal(value)} {currency} ([app] ladder_size) buys less than one lot of "
            f"{info.id} at {format_decimal(price)}"
        )
    return quantity


def _decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise LadderSizeError(f"[app] {name} is not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise LadderSizeError(f"[app] {name} must be above zero: {text!r}")
    return value


def ladder_order_args(
    info: InstrumentInfo,
    side: Literal["buy", "sell"],
    price: Decimal,
    kind: LadderKind,
    sizes: dict[str, str],
) -> dict[str, Any]:
    """``order.submit`` arguments of a ladder order (raises :class:`LadderSizeError`)."""
    quantity = ladder_quantity(info, price, sizes)
    return {
        "instrument": info.id,
        "side": side,
        "type": "limit",
        "tif": "ioc" if kind == "ioc" else "gtc",
        "price": plain(price),
        "quantity": plain(quantity),
        "client_order_id": new_client_order_id(),
    }


class OrderDesk(Protocol):
    """What the ladder's orders need of the trading controller."""

    app: Console

    def unavailable(self, action: str) -> str | None: ...

    def toast(self, severity: Severity, text: str) -> None: ...

    async def submit_order(self, args: dict[str, Any]) -> Reply | None: ...

    def cancel(self, client_order_id: str) -> None: ...


class LadderOrders:
    """Handles the ladder's order and cancel requests for the trading controller."""

    def __init__(self, trading: OrderDesk) -> None:
        self.trading = trading

    def order_at_price(
        self,
        instrument_id: str,
        side: Literal["buy", "sell"],
        price: Decimal,
        kind: LadderKind,
    ) -> None:
        app = self.trading.app
        reason = self.trading.unavailable("buy")
        if reason is not None:
            self.trading.toast("warning", f"Order not sent: {reason}")
            return
        info = app.instruments.get(instrument_id)
        if info is None:
            self.trading.toast("warning", f"{instrument_id}: its details have not arrived yet")
            return
        try:
            args = ladder_order_args(info, side, price, kind, dict(app.settings.app.ladder_size))
        except LadderSizeError as exc:
            self.trading.toast("error", str(exc))
            return
        if not app.settings.app.confirm_ladder_orders:
            self._send(args)
            return
        what = "IOC" if kind == "ioc" else "limit"
        body = (
            f"{side.capitalize()} {format_decimal(args['quantity'])} {instrument_id} "
            f"{what} @ {format_decimal(price)}?"
        )
        screen = ConfirmScreen(
            f"{side.capitalize()} from the ladder",
            # No square brackets: the confirm's body is markup.
            body + "\n(confirm_ladder_orders = false in config.toml sends without asking.)",
            f"{side.capitalize()} {what}",
            id="confirm-ladder-order",
        )

        def confirmed(confirmation: Confirmation | None) -> None:
            if confirmation is not None:
                self._send(args)

        app.push_screen(screen, callback=confirmed)

    def _send(self, args: dict[str, Any]) -> None:
        self.trading.app.run_worker(
            self.trading.submit_order(args), name="order.submit", group="trading"
        )

    def cancel_at_price(self, instrument_id: str, price: Decimal, order_ids: list[str]) -> None:
        if not order_ids:
            self.trading.toast(
                "information", f"No own order at {format_decimal(price)} on {instrument_id}"
            )
            return
        reason = self.trading.unavailable("cancel_order")
        if reason is not None:
            self.trading.toast("warning", f"Cancel not sent: {reason}")
            return
        for client_order_id in order_ids:
            self.trading.cancel(client_order_id)
