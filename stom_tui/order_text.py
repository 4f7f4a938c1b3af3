"""Words for orders and order events: table labels, log lines and toasts (pure, no widgets)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.protocol.trading import OPEN_STATUSES, FillRow, OrderRow, OrderUpdate
from stom_tui.formatting import format_amount, format_decimal

Severity = Literal["information", "warning", "error"]

SHORT_ID_LENGTH = 8

STATUS_LABELS: dict[str, str] = {
    "submitted": "submitted",
    "accepted": "open",
    "partially_filled": "partial",
    "pending_cancel": "cancelling",
    "filled": "filled",
    "canceled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
    "denied": "denied",
}

_TYPE_LABELS: dict[tuple[str, str], str] = {
    ("limit", "gtc"): "limit",
    ("limit", "ioc"): "IOC",
    ("limit", "fok"): "FOK",
    ("market", "ioc"): "market",
    ("market", "fok"): "mkt FOK",
    ("market", "gtc"): "market",
}


_AMERICAN = re.compile(r"\b([Cc])ancel(ed|ing)\b")


def spelled(text: str) -> str:
    """Engine and venue text in the console's one spelling: ``canceled`` -> ``cancelled``
    (the protocol's status names stay as they are; only what the user reads changes)."""
    return _AMERICAN.sub(lambda match: f"{match.group(1)}ancell{match.group(2)}", text)


@dataclass(frozen=True, slots=True)
class Toast:
    """A transient notice for the user."""

    severity: Severity
    text: str


def short_id(client_order_id: str) -> str:
    """The id's last characters: enough to tell orders apart on screen (``…`` marks a cut)."""
    if len(client_order_id) <= SHORT_ID_LENGTH:
        return client_order_id
    return "…" + client_order_id[-(SHORT_ID_LENGTH - 1) :]


def is_open(order: OrderRow) -> bool:
    return order.status in OPEN_STATUSES


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def type_label(order_type: str, tif: str) -> str:
    """``limit``, ``IOC``, ``FOK``, ``market``: how the order rests (or does not)."""
    return _TYPE_LABELS.get((order_type, tif), f"{order_type} {tif}")


def order_summary(order: OrderRow) -> str:
    """``buy 0.01 KRW-BTC.SIM @ 50,000,000`` (or ``… at market``)."""
    where = f"@ {format_decimal(order.price)}" if order.price is not None else "at market"
    label = type_label(order.type, order.tif)
    kind = f" {label}" if label not in ("limit", "market") else ""
    return f"{order.side} {format_decimal(order.quantity)} {order.instrument_id}{kind} {where}"


def describe_fill(fill: FillRow) -> str:
    """``FILL buy 0.01 KRW-BTC.SIM @ 50,000,000 fee 250 KRW (taker)``."""
    return (
        f"FILL {fill.side} {format_decimal(fill.quantity)} {fill.instrument_id} "
        f"@ {format_decimal(fill.price)} fee {format_amount(fill.fee, fill.currency)} "
        f"{fill.currency} ({fill.liquidity})"
    )


def event_reason(update: OrderUpdate) -> str:
    return spelled(update.reason or update.order.reason or "no reason given")


def describe_event(update: OrderUpdate) -> tuple[str, str]:
    """(log level, log line) for one order event."""
    order = update.order
    ident = f"order {short_id(order.client_order_id)}"
    event = update.event
    if event == "filled" and update.fill is not None:
        progress = ""
        if order.status != "filled":
            filled, quantity = format_decimal(order.filled), format_decimal(order.quantity)
            progress = f" ({filled} of {quantity} filled)"
        return "info", f"{describe_fill(update.fill)} · {ident}{progress}"
    if event in ("denied", "rejected"):
        return "warning", f"{event.upper()} {order_summary(order)}: {event_reason(update)}"
    if event == "cancel_rejected":
        return "warning", f"CANCEL REJECTED {ident}: {event_reason(update)}"
    words = {
        "submitted": "submitted",
        "accepted": "accepted",
        "pending_cancel": "cancelling",
        "canceled": "cancelled",
        "expired": "expired",
    }
    text = f"{words.get(event, event)} {order_summary(order)} · {ident}"
    reason = update.reason or (order.reason if event in ("canceled", "expired") else None)
    return "info", text + (f" ({spelled(reason)})" if reason else "")


def toast_for_event(update: OrderUpdate) -> Toast | None:
    """A toast for the events the user must notice: fills, denials, rejections."""
    order = update.order
    event = update.event
    if event == "filled" and update.fill is not None:
        fill = update.fill
        return Toast(
            "information",
            f"Filled {fill.side} {format_decimal(fill.quantity)} {fill.instrument_id} "
            f"@ {format_decimal(fill.price)} "
            f"(fee {format_amount(fill.fee, fill.currency)} {fill.currency})",
        )
    if event == "denied":
        return Toast("error", rejection_text(order_summary(order), event_reason(update), "Denied"))
    if event == "rejected":
        return Toast("error", rejection_text(order_summary(order), event_reason(update)))
    if event == "cancel_rejected":
        reason = event_reason(update)
        return Toast("warning", f"Cancel of order {short_id(order.client_order_id)}: {reason}")
    return None


def rejection_text(summary: str, reason: str, verb: str = "Rejected") -> str:
    """``Rejected buy 1 005930.SIM @ 71,500: <reason>``, or for a risk denial whose reason says
    so already, ``Buy 1 005930.SIM @ 71,500 denied by risk (<rule>): <why>``."""
    reason = spelled(reason)
    if reason.startswith("denied"):
        return f"{summary[:1].upper()}{summary[1:]} {reason}"
    return f"{verb} {summary}: {reason}"
