"""Pre-trade limits the order ticket checks as the user types: buying power, holdings, and the
risk engine's rules (kill switch, paused instrument, price band, order value, position, gross
exposure, open orders), read from the retained ``oms/account``, ``oms/positions``, ``oms/orders``
and ``risk/state`` payloads.

The rules mirror ``engine/risk/pre_trade.py`` (the engine stays the judge: it checks again on
submit). What the console does not know is reported as "not checked", never passed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from engine.protocol.payloads import InstrumentInfo
from engine.protocol.trading import OPEN_STATUSES, Account, Orders, Positions, RiskState
from stom_tui.formatting import format_decimal, format_money, parse_decimal

Side = Literal["buy", "sell"]
OrderKind = Literal["limit", "market", "ioc"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class TicketLimits:
    """What the engine's pre-trade rules hold an order on one instrument to, as far as the
    console knows. ``None`` means not known: that rule shows as "not checked"."""

    account_known: bool = False
    risk_known: bool = False
    free_quote: Decimal | None = None
    """Free (not locked) balance of the quote currency: what a buy may cost, fee included."""
    free_base: Decimal | None = None
    """Free holdings of the base asset: what a sell may sell when shorting is off."""
    allow_short: bool | None = None
    held: Decimal | None = None
    """Signed position quantity (an order that only reduces it is not an entry)."""
    resting: dict[str, Decimal] = field(default_factory=dict)
    """Unfilled quantity of this instrument's open orders per side (``buy``/``sell``)."""
    orders_known: bool = False
    """Whether ``resting`` comes from an orders payload (the position limit needs it)."""
    kill_switch: bool | None = None
    kill_reason: str | None = None
    paused: str | None = None
    """Why entries on this instrument are paused (stale feed, venue halt); None: not paused."""
    price_band_pct: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    gross_exposure: Decimal | None = None
    max_gross_exposure: Decimal | None = None
    open_orders: int | None = None
    max_open_orders: int | None = None
    risk_currency: str | None = None
    """The currency of the risk state's money limits (they apply only to that quote currency)."""


def ticket_limits(
    info: InstrumentInfo,
    account: Account | None,
    positions: Positions | None,
    risk: RiskState | None,
    orders: Orders | None = None,
) -> TicketLimits:
    """The limits for ``info`` from the latest payloads (any of them may not have arrived)."""
    free_quote = free_base = None
    if account is not None:
        free = {row.currency: parse_decimal(row.free) for row in account.balances}
        # A currency the account does not list has nothing free (the engine reads it as 0).
        free_quote = free.get(info.quote_currency) or Decimal(0)
        free_base = free.get(info.base_currency) or Decimal(0)
    held = None
    if positions is not None:
        row = next((p for p in positions.positions if p.instrument_id == info.id), None)
        held = (parse_decimal(row.quantity) if row is not None else None) or Decimal(0)
    resting: dict[str, Decimal] = {}
    if orders is not None:
        for order in orders.orders:
            if order.instrument_id == info.id and order.status in OPEN_STATUSES:
                leaves = (parse_decimal(order.quantity) or Decimal(0)) - (
                    parse_decimal(order.filled) or Decimal(0)
                )
                resting[order.side] = resting.get(order.side, Decimal(0)) + leaves
    limits = TicketLimits(
        account_known=account is not None,
        free_quote=free_quote,
        free_base=free_base,
        held=held,
        resting=resting,
        orders_known=orders is not None,
    )
    if risk is None:
        return limits
    money = risk.currency == info.quote_currency
    paused = next((p.reason for p in risk.paused if p.instrument_id == info.id), None)
    return replace(
        limits,
        risk_known=True,
        allow_short=risk.allow_short,
        kill_switch=risk.kill_switch,
        kill_reason=risk.kill_reason,
        paused=paused,
        price_band_pct=parse_decimal(risk.price_band_pct),
        max_order_notional=_positive(risk.max_order_notional) if money else None,
        max_position_notional=_positive(risk.max_position_notional) if money else None,
        gross_exposure=parse_decimal(risk.gross_exposure) if money else None,
        max_gross_exposure=_positive(risk.max_gross_exposure) if money else None,
        open_orders=risk.open_orders,
        max_open_orders=risk.max_open_orders,
        risk_currency=risk.currency,
    )


def _positive(text: str | None) -> Decimal | None:
    """A limit; ``0`` is how the engine shows a limit the currency does not have."""
    value = parse_decimal(text)
    return value if value is not None and value > 0 else None


@dataclass(frozen=True, slots=True)
class PricedOrder:
    """The order as the ticket values it (the engine values a market order at the touch)."""

    side: Side
    kind: OrderKind
    price: Decimal
    quantity: Decimal
    notional: Decimal
    cost: Decimal
    """Notional plus the taker fee: what the engine requires free for a buy."""
    reserve_fee: Decimal
    """The taker fee in ``cost`` (the engine reserves it whatever the order's role)."""
    currency: str
    base: str
    reference: Decimal | None = None
    """Last trade (or mid) the price band is measured from; None: no reference."""
    reference_name: str = "the mid"


@dataclass(slots=True)
class LimitReport:
    """Rules the order breaks (they block sending) and rules that could not be checked."""

    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


def check_limits(order: PricedOrder, limits: TicketLimits | None) -> LimitReport:
    """The engine's pre-trade rules, in its order, against what the console knows."""
    report = LimitReport()
    if limits is None:
        report.unchecked.append("buying power and risk limits (no account or risk state yet)")
        return report
    entry = _is_entry(order, limits.held)
    if limits.risk_known:
        _check_gates(order, limits, entry, report)
        if entry:
            _check_size(order, limits, report)
        _check_open_orders(limits, report)
    else:
        report.unchecked.append("risk limits (no risk state yet)")
    _check_balance(order, limits, report)
    return report


def _is_entry(order: PricedOrder, held: Decimal | None) -> bool:
    """False when the order only reduces the position (the engine lets those through)."""
    if held is None:
        return True
    if order.side == "sell":
        return not 0 < order.quantity <= held
    return not 0 < order.quantity <= -held


def _check_gates(
    order: PricedOrder, limits: TicketLimits, entry: bool, report: LimitReport
) -> None:
    """Kill switch and paused instrument (entries only), and the price band (limit prices)."""
    if limits.kill_switch and entry:
        reason = limits.kill_reason or "no reason given"
        report.problems.append(
            f"the kill switch is on ({reason}): only orders that reduce a position are allowed"
        )
    if limits.paused is not None and entry:
        report.problems.append(f"entries on this instrument are paused: {limits.paused}")
    if order.kind == "market":
        return
    band = limits.price_band_pct
    if band is None:
        report.unchecked.append("price band (not published)")
    elif order.reference is None or order.reference <= 0:
        report.unchecked.append("price band (no last trade or two-sided book)")
    else:
        deviation = abs(order.price - order.reference) / order.reference * _HUNDRED
        if deviation > band:
            report.problems.append(
                f"price {format_decimal(order.price)} is {_percent(deviation)}% from "
                f"{order.reference_name} {format_decimal(order.reference)} (the band is "
                f"{format_decimal(band)}%)"
            )


def _check_size(order: PricedOrder, limits: TicketLimits, report: LimitReport) -> None:
    """Order value, position and gross exposure limits (entries only)."""
    currency = order.currency
    if limits.risk_currency != currency:
        report.unchecked.append(
            f"{currency} value limits (the risk state is in {limits.risk_currency})"
        )
        return
    if limits.max_order_notional is None:
        report.unchecked.append("max order value (not published)")
    elif order.notional > limits.max_order_notional:
        report.problems.append(
            f"order value {format_money(order.notional)} {currency} exceeds the max order "
            f"value {format_money(limits.max_order_notional)} {currency}"
        )
    _check_position(order, limits, report)
    if limits.max_gross_exposure is not None and limits.gross_exposure is not None:
        total = limits.gross_exposure + order.notional
        if total > limits.max_gross_exposure:
            report.problems.append(
                f"gross exposure would be {format_money(total)} {currency} (now "
                f"{format_money(limits.gross_exposure)}), above the limit "
                f"{format_money(limits.max_gross_exposure)} {currency}"
            )


def _check_position(order: PricedOrder, limits: TicketLimits, report: LimitReport) -> None:
    """The position if this order and the open ones on its side all fill, at this price."""
    limit = limits.max_position_notional
    if limit is None:
        report.unchecked.append("max position value (not published)")
        return
    if limits.held is None or not limits.orders_known:
        report.unchecked.append("max position value (positions or orders not received)")
        return
    sign = 1 if order.side == "buy" else -1
    resting = limits.resting.get(order.side, Decimal(0))
    resulting = limits.held + sign * (resting + order.quantity)
    value = abs(resulting) * order.price
    if value > limit:
        report.problems.append(
            f"the position would be {format_decimal(resulting)} {order.base}, worth "
            f"{format_money(value)} {order.currency}, above the limit "
            f"{format_money(limit)} {order.currency}"
        )


def _check_open_orders(limits: TicketLimits, report: LimitReport) -> None:
    count, limit = limits.open_orders, limits.max_open_orders
    if count is not None and limit is not None and count >= limit:
        report.problems.append(f"{count} orders are open and the limit is {limit}: cancel some")


def _check_balance(order: PricedOrder, limits: TicketLimits, report: LimitReport) -> None:
    """Cash for a buy, its taker fee included (as the engine reserves it); holdings for a sell
    unless shorting is allowed."""
    if not limits.account_known:
        report.unchecked.append("buying power (no account yet)")
        return
    if order.side == "buy":
        free = limits.free_quote or Decimal(0)
        if order.cost > free:
            report.problems.append(
                f"the buy costs {format_money(order.cost)} {order.currency} with the fee "
                f"{format_money(order.reserve_fee)} {order.currency}, more than the free "
                f"{format_money(free)} {order.currency}"
            )
        return
    if limits.allow_short:
        return
    if limits.allow_short is None:
        report.unchecked.append(f"{order.base} holdings (short selling rule not published)")
        return
    held = limits.free_base or Decimal(0)
    if order.quantity > held:
        report.problems.append(
            f"selling {format_decimal(order.quantity)} {order.base} needs more than the free "
            f"{format_decimal(held)} {order.base} (short selling is off)"
        )


def _percent(value: Decimal) -> str:
    """A deviation to two decimals, rounded up so it never reads as inside the band."""
    return format_decimal(value.quantize(Decimal("0.01"), rounding=ROUND_CEILING))
