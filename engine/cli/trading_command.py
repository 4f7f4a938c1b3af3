"""``stom order``, ``stom cancel``, ``stom orders``, ``stom positions``, ``stom kill``.

Each sends one command to the running engine and prints its reply: a table or a sentence for
people, the whole reply with ``--json`` for scripts. Exit status 0 when the engine accepted, 1 when
it rejected (the reason is printed) or could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import msgspec

from engine.cli.common import broker_of
from engine.cli.remote import RECONNECT_GRACE_S, RemoteEngine
from engine.config.settings import Settings
from engine.protocol import results as r
from engine.protocol.codec import DecodeError
from engine.protocol.payloads import Reply
from engine.protocol.trading import OrderRow


def add_trading_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    order = sub.add_parser("order", parents=[common], help="send an order to the engine")
    order.add_argument("side", choices=("buy", "sell"))
    order.add_argument("instrument", help="instrument id, e.g. KRW-BTC.SIM")
    order.add_argument("quantity", nargs="?", help="quantity (or use --notional)")
    order.add_argument("--price", help="limit price (omit with --type market)")
    order.add_argument("--type", choices=("limit", "market"), help="default: limit with --price")
    order.add_argument("--tif", choices=("gtc", "ioc", "fok"), help="time in force")
    order.add_argument("--notional", help="order value in the quote currency instead of quantity")
    order.add_argument("--id", dest="client_order_id", help="client order id (idempotent)")
    order.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    cancel = sub.add_parser("cancel", parents=[common], help="cancel an order, or all orders")
    cancel.add_argument("client_order_id", nargs="?", help="order id (see `stom orders`)")
    cancel.add_argument("--all", action="store_true", help="cancel every open order")
    cancel.add_argument("--instrument", help="with --all: only this instrument")
    cancel.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    orders = sub.add_parser("orders", parents=[common], help="list the engine's orders")
    orders.add_argument("--open", action="store_true", help="only open orders")
    orders.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    positions = sub.add_parser("positions", parents=[common], help="positions and balances")
    positions.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    kill = sub.add_parser("kill", parents=[common], help="kill switch: cancel all, block entries")
    kill.add_argument("--flatten", action="store_true", help="also close every position")
    kill.add_argument("--reset", action="store_true", help="allow entries again")
    kill.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    for name, what in (("arm", "allow real orders on"), ("disarm", "block real orders on")):
        arming = sub.add_parser(name, parents=[common], help=f"{what} a live venue")
        arming.add_argument("venue", help="venue code: UPBIT, BINANCE or KRX")
        arming.add_argument("--json", action="store_true", help="print the engine's reply as JSON")


def command_of(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The bus command (type, args) for parsed CLI arguments; SystemExit(2) on misuse."""
    if args.command == "order":
        if (args.quantity is None) == (args.notional is None):
            raise SystemExit("stom order: give a quantity or --notional (not both)")
        order_type = args.type or ("limit" if args.price is not None else "market")
        payload: dict[str, Any] = {
            "instrument": args.instrument,
            "side": args.side,
            "type": order_type,
        }
        for key in ("price", "tif", "client_order_id", "quantity", "notional"):
            value = getattr(args, key)
            if value is not None:
                payload[key] = value
        return "order.submit", payload
    if args.command == "cancel":
        if args.all == (args.client_order_id is not None):
            raise SystemExit("stom cancel: give an order id or --all")
        if args.all:
            return "order.cancel_all", {"instrument": args.instrument} if args.instrument else {}
        return "order.cancel", {"client_order_id": args.client_order_id}
    if args.command == "orders":
        return "orders", {"open": True} if args.open else {}
    if args.command == "positions":
        return "positions", {}
    if args.command == "kill":
        if args.reset:
            return "kill.reset", {}
        return "kill", {"flatten": args.flatten}
    if args.command in ("arm", "disarm"):
        return args.command, {"venue": args.venue}
    raise SystemExit(f"stom: unknown trading command {args.command!r}")


async def _send(settings: Settings, type_: str, payload: dict[str, Any]) -> Reply | None:
    address, password = broker_of(settings)
    async with RemoteEngine(settings, address, password) as remote:
        # Waits out an engine reconnecting after a broker restart (issue 12, finding 18).
        status = await remote.alive_engine(timeout=1.0, wait_s=RECONNECT_GRACE_S)
        if status is None:
            return None
        return await remote.request(type_, payload, timeout=5.0)


def run_trading(settings: Settings, args: argparse.Namespace) -> int:
    type_, payload = command_of(args)
    try:
        reply = asyncio.run(_send(settings, type_, payload))
    except ConnectionError as exc:
        print(f"stom: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"stom: the engine did not answer {type_} within 5 s", file=sys.stderr)
        return 1
    if reply is None:
        print(
            f"stom: no engine is running in namespace {settings.bus.namespace!r}"
            f" (none answered within {RECONNECT_GRACE_S:g} s; start one with `stom` or"
            " `stom engine`)",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(msgspec.to_builtins(reply), indent=2))
    else:
        print(render(type_, reply))
    return 0 if reply.status == "accepted" else 1


def render(type_: str, reply: Reply) -> str:
    """The reply for people, read through its command's typed result."""
    lines = []
    if reply.status != "accepted":
        lines.append(f"rejected: {reply.reason}")
    result: msgspec.Struct | None = None
    if reply.result is not None and type_ in r.RESULT_TYPES:
        try:
            result = r.result_of(reply, r.RESULT_TYPES[type_])
        except DecodeError as exc:
            lines.append(f"unreadable result: {exc}")
    if isinstance(result, r.SubmitResult | r.OrderResult | r.ReplaceResult):
        lines.append(_order_line(result.order))
    if isinstance(result, r.CanceledResult | r.KillResult):
        lines.append(
            f"cancelled {len(result.canceled)} order(s): {' '.join(result.canceled) or '-'}"
        )
    if isinstance(result, r.KillResult) and result.flatten:
        lines.append(f"flattening with: {' '.join(result.flatten)}")
    if isinstance(result, r.ArmResult) and reply.status == "accepted":
        lines.append(f"armed venues: {', '.join(result.armed_venues) or 'none'}")
    if type_ == "kill.reset" and reply.status == "accepted":
        lines.append("kill switch reset: entries allowed")
    if isinstance(result, r.OrdersResult):
        lines.extend(_order_line(order) for order in result.orders)
        lines.append(f"{len(result.orders)} order(s)")
    if isinstance(result, r.PositionsResult):
        lines.extend(_position_lines(result))
    return "\n".join(lines)


def _order_line(order: OrderRow) -> str:
    price = order.price or "market"
    avg = f" avg {order.avg_price}" if order.avg_price else ""
    reason = f" ({order.reason})" if order.reason else ""
    return (
        f"{order.client_order_id:<14} {order.status:<16} {order.side:<4} "
        f"{order.instrument_id:<14} {order.filled}/{order.quantity} @ {price}{avg} "
        f"fee {order.fee} {order.currency}{reason}"
    )


def _position_lines(result: r.PositionsResult) -> list[str]:
    lines = [
        f"{'instrument':<14} {'quantity':>16} {'avg':>16} {'last':>14} "
        f"{'unrealized':>16} {'realized':>16} {'fees':>14}"
    ]
    for row in result.positions:
        lines.append(
            f"{row.instrument_id:<14} {row.quantity:>16} {row.avg_price or '-':>16} "
            f"{row.last or '-':>14} {row.unrealized:>16} {row.realized:>16} "
            f"{row.fees:>14} {row.currency}"
        )
    for balance in result.balances:
        lines.append(f"balance {balance.currency:<6} free {balance.free} locked {balance.locked}")
    return lines
