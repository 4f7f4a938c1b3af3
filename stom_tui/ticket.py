"""The order ticket's arithmetic: tick steps, instrument rules, cost and fee estimates, and the
``order.submit`` arguments (pure, exact, testable without a screen).

Prices and sizes are checked on the instrument's grid the way the engine checks them (raw
integers at the instrument's precisions, :class:`~engine.domain.tick_table.TickTable` for the
price bands), so what the ticket accepts the engine accepts on the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from engine.domain.fees import FeeRate, notional_scale
from engine.domain.fixed_point import PrecisionError, from_raw, to_raw
from engine.domain.tick_table import TickTable
from engine.protocol.payloads import BookSnapshot, InstrumentInfo
from stom_tui.formatting import format_decimal, format_money, parse_decimal, trim_decimal
from stom_tui.ticket_limits import (
    OrderKind,
    PricedOrder,
    Side,
    TicketLimits,
    check_limits,
    ticket_limits,
)

__all__ = [
    "ORDER_KINDS",
    "InstrumentRules",
    "OrderKind",
    "Quote",
    "Side",
    "TicketCheck",
    "TicketDraft",
    "TicketLimits",
    "evaluate",
    "parse_number",
    "ticket_limits",
]

AmountMode = Literal["quantity", "notional"]

ORDER_KINDS: tuple[OrderKind, ...] = ("limit", "market", "ioc")


def parse_number(text: str) -> Decimal | None:
    """A number typed by the user: thousands separators and spaces allowed; None if not one."""
    cleaned = text.replace(",", "").replace("_", "").replace(" ", "").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def plain(value: Decimal) -> str:
    """Exact decimal text for the wire: no exponent, no trailing zeros, no separators."""
    return format(trim_decimal(value), "f")


@dataclass(frozen=True, slots=True)
class Quote:
    """The instrument's touch (best bid and ask) and, when known, its last trade price."""

    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    last: Decimal | None = None
    """The last trade: the price band's reference (the mid when unknown)."""

    @classmethod
    def from_book(cls, book: BookSnapshot, last: Decimal | None = None) -> Quote:
        """The touch of ``book`` (levels arrive best first)."""
        bid = parse_decimal(book.bids[0][0]) if book.bids else None
        ask = parse_decimal(book.asks[0][0]) if book.asks else None
        return cls(bid, ask, last)

    def opposite(self, side: Side) -> Decimal | None:
        """What a market order would pay: the ask for a buy, the bid for a sell."""
        return self.best_ask if side == "buy" else self.best_bid

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Whether a limit at ``price`` is marketable: a buy at or above the best ask, a sell at
        or below the best bid (it takes liquidity, so it pays the taker fee)."""
        opposite = self.opposite(side)
        if opposite is None:
            return False
        return price >= opposite if side == "buy" else price <= opposite

    def reference(self) -> tuple[Decimal | None, str]:
        """The price band's reference as the engine picks it: the last trade, else the mid."""
        if self.last is not None and self.last > 0:
            return self.last, "the last trade"
        if self.best_bid is not None and self.best_ask is not None:
            return (self.best_bid + self.best_ask) / 2, "the mid"
        return None, "the mid"


class InstrumentRules:
    """The instrument's grid, lot, minimum order value and fees."""

    def __init__(self, info: InstrumentInfo) -> None:
        self.info = info
        self.price_precision = info.price_precision
        self.size_precision = info.size_precision
        self.currency = info.quote_currency
        self.lot = parse_decimal(info.lot_size) or Decimal(0)
        self.min_notional = parse_decimal(info.min_notional) or Decimal(0)
        self.maker_fee = FeeRate(info.maker_fee)
        self.taker_fee = FeeRate(info.taker_fee)
        try:
            self.table: TickTable | None = TickTable.from_decimal(
                info.tick_bands, info.price_precision
            )
        except (ValueError, PrecisionError):
            self.table = None

    # --- prices -------------------------------------------------------------------------------

    def tick_at(self, price: Decimal) -> Decimal | None:
        if self.table is None:
            return None
        raw = self._price_raw_floor(price)
        return from_raw(self.table.tick_at(raw), self.price_precision)

    def step_price(self, price: Decimal, steps: int) -> Decimal:
        """``steps`` ticks up (or down when negative), across band edges; an off-grid price
        moves to the next grid price in that direction first."""
        if self.table is None or steps == 0:
            return price
        raw = self._price_raw_floor(price)
        if steps > 0:
            stepped = self.table.step_up(raw, steps)
        else:
            exact = raw if from_raw(raw, self.price_precision) == price else raw + 1
            stepped = self.table.step_down(exact, -steps)
        return from_raw(stepped, self.price_precision)

    def price_problem(self, price: Decimal) -> str | None:
        if price <= 0:
            return "price must be above zero"
        try:
            raw = to_raw(price, self.price_precision)
        except PrecisionError:
            return f"price has more than {self.price_precision} decimals"
        if self.table is None or self.table.is_on_grid(raw):
            return None
        below = from_raw(self.table.round_down(raw), self.price_precision)
        above = from_raw(self.table.round_up(raw), self.price_precision)
        tick = from_raw(self.table.tick_at(raw), self.price_precision)
        return (
            f"price {format_decimal(price)} is off the tick grid (tick {format_decimal(tick)}): "
            f"try {format_decimal(below)} or {format_decimal(above)}"
        )

    def _price_raw_floor(self, price: Decimal) -> int:
        unit = Decimal(1).scaleb(-self.price_precision)
        return to_raw(price.quantize(unit, rounding=ROUND_DOWN), self.price_precision)

    # --- quantities ---------------------------------------------------------------------------

    def quantity_problem(self, quantity: Decimal) -> str | None:
        if quantity <= 0:
            return "quantity must be above zero"
        try:
            to_raw(quantity, self.size_precision)
        except PrecisionError:
            return f"quantity has more than {self.size_precision} decimals"
        if self.lot > 0 and quantity % self.lot != 0:
            return f"quantity must be a multiple of the lot {format_decimal(self.lot)}"
        return None

    def floor_to_lot(self, quantity: Decimal) -> Decimal:
        if self.lot <= 0:
            unit = Decimal(1).scaleb(-self.size_precision)
            return quantity.quantize(unit, rounding=ROUND_DOWN)
        return (quantity / self.lot).to_integral_value(rounding=ROUND_DOWN) * self.lot

    def fee(self, price: Decimal, quantity: Decimal, *, taker: bool) -> Decimal:
        """The fee on ``price × quantity``, rounded up the way the engine charges it."""
        rate = self.taker_fee if taker else self.maker_fee
        notional_raw = to_raw(price, self.price_precision) * to_raw(quantity, self.size_precision)
        scale = notional_scale(self.price_precision, self.size_precision)
        return from_raw(rate.fee_raw(notional_raw), scale)


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """What the ticket's fields say right now."""

    side: Side
    kind: OrderKind
    price_text: str
    amount_text: str
    amount_mode: AmountMode = "quantity"


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """The draft evaluated against the rules: estimates, problems and (if none) the arguments."""

    price: Decimal | None
    """The limit price, or the best opposite price a market order is estimated at."""
    quantity: Decimal | None
    """As typed, or computed from the notional (floored to the lot)."""
    notional: Decimal | None
    fee: Decimal | None
    taker: bool
    """Market and IOC orders, and a limit that crosses the touch, take liquidity."""
    problems: list[str] = field(default_factory=list)
    args: dict[str, Any] | None = None
    """``order.submit`` arguments (without ``client_order_id``), None while there are problems."""
    unchecked: list[str] = field(default_factory=list)
    """Pre-trade rules the console could not check (no account or risk state yet)."""


def evaluate(
    draft: TicketDraft,
    rules: InstrumentRules,
    quote: Quote,
    limits: TicketLimits | None = None,
) -> TicketCheck:
    """Check ``draft`` against ``rules`` and ``limits`` and estimate what it costs."""
    problems: list[str] = []
    limit_problems: list[str] = []
    unchecked: list[str] = []
    price = _draft_price(draft, rules, quote, problems)
    taker = draft.kind != "limit" or (price is not None and quote.crosses(draft.side, price))
    quantity, amount = _draft_quantity(draft, rules, price, problems)
    notional = fee = None
    if price is not None and quantity is not None and price > 0 and quantity > 0:
        notional = price * quantity
        if not problems:
            fee = rules.fee(price, quantity, taker=taker)
            report = check_limits(_priced(draft, rules, quote, price, quantity), limits)
            limit_problems, unchecked = report.problems, report.unchecked
        if rules.min_notional > 0 and notional < rules.min_notional:
            problems.append(
                f"order value {format_money(notional)} {rules.currency} is below the minimum "
                f"{format_decimal(rules.min_notional)} {rules.currency}"
            )
        problems.extend(limit_problems)
    args = None
    if not problems and amount is not None:
        args = _submit_args(draft, rules, price, amount)
    return TicketCheck(price, quantity, notional, fee, taker, problems, args, unchecked)


def _priced(
    draft: TicketDraft, rules: InstrumentRules, quote: Quote, price: Decimal, quantity: Decimal
) -> PricedOrder:
    reserve_fee = rules.fee(price, quantity, taker=True)
    reference, reference_name = quote.reference()
    notional = price * quantity
    return PricedOrder(
        side=draft.side,
        kind=draft.kind,
        price=price,
        quantity=quantity,
        notional=notional,
        cost=notional + reserve_fee,
        reserve_fee=reserve_fee,
        currency=rules.currency,
        base=rules.info.base_currency,
        reference=reference,
        reference_name=reference_name,
    )


def _draft_price(
    draft: TicketDraft, rules: InstrumentRules, quote: Quote, problems: list[str]
) -> Decimal | None:
    if draft.kind == "market":
        price = quote.opposite(draft.side)
        if price is None:
            best = "ask" if draft.side == "buy" else "bid"
            problems.append(f"no {best} in the book to price a market {draft.side}")
        return price
    price = parse_number(draft.price_text)
    if price is None:
        problems.append("enter a price")
        return None
    problem = rules.price_problem(price)
    if problem:
        problems.append(problem)
    return price


def _draft_quantity(
    draft: TicketDraft, rules: InstrumentRules, price: Decimal | None, problems: list[str]
) -> tuple[Decimal | None, Decimal | None]:
    """(quantity, the amount as typed) — the amount is the notional in notional mode."""
    amount = parse_number(draft.amount_text)
    if draft.amount_mode == "quantity":
        if amount is None:
            problems.append("enter a quantity")
            return None, None
        problem = rules.quantity_problem(amount)
        if problem:
            problems.append(problem)
        return amount, amount
    if amount is None:
        problems.append(f"enter an amount in {rules.currency}")
        return None, None
    if amount <= 0:
        problems.append("amount must be above zero")
        return None, amount
    if price is None or price <= 0:
        return None, amount
    quantity = rules.floor_to_lot(amount / price)
    if quantity <= 0:
        problems.append(
            f"{format_decimal(amount)} {rules.currency} buys less than one lot "
            f"({format_decimal(rules.lot)} {rules.info.base_currency})"
        )
        return None, amount
    return quantity, amount


def _submit_args(
    draft: TicketDraft, rules: InstrumentRules, price: Decimal | None, amount: Decimal
) -> dict[str, Any]:
    args: dict[str, Any] = {"instrument": rules.info.id, "side": draft.side}
    if draft.kind == "market":
        args.update(type="market", tif="ioc")
    else:
        assert price is not None
        args.update(type="limit", tif="ioc" if draft.kind == "ioc" else "gtc", price=plain(price))
    args[draft.amount_mode] = plain(amount)
    return args
