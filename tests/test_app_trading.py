"""The trading side of the console, driven through the Pilot with a fake feed and frozen clock:
orders and positions panes, the order ticket, cancel / cancel all / kill, order events."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec
from textual.command import CommandPalette
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.widgets import Input, Static

from engine.domain.clock import TestClock
from engine.protocol.payloads import BookSnapshot, EngineStatus
from engine.protocol.trading import OrderRow, OrderUpdate, Reconciliation
from stom_tui.app import StomApp
from stom_tui.screens.confirm import ConfirmScreen
from stom_tui.screens.order_ticket import OrderTicket
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.fake_feed import FakeFeed, accepted, rejected
from tests.fixtures.market_payloads import ENGINE_ID, SNAPSHOT_TS_NS
from tests.fixtures.trading_payloads import (
    DENIAL,
    account,
    fill_update,
    killed_risk,
    order,
    orders,
    positions,
    risk,
    trading_payloads,
)

WIDE = (160, 48)
SMALL = (80, 24)
BTC = "KRW-BTC.SIM"
BTC_BEST_ASK = "143302000"
BTC_BEST_BID = "143300000"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"


@dataclass
class Session:
    """A running app on a fake feed, with the toasts it raised."""

    pilot: Pilot[None]
    app: StomApp
    feed: FakeFeed
    clock: TestClock
    toasts: list[Notification] = field(default_factory=list)

    def toast_texts(self, severity: str | None = None) -> list[str]:
        return [t.message for t in self.toasts if severity is None or t.severity == severity]

    def log_text(self) -> str:
        return "\n".join(self.app.log_pane.entries)

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)
            await settle(self.pilot)

    async def finish_commands(self) -> None:
        """Wait for the command workers (never the feed worker) to finish."""
        await self.pilot.pause()
        workers = [worker for worker in self.app.workers if worker.group == "trading"]
        if workers:  # an empty list would mean "every worker", the feed's too
            await self.app.workers.wait_for_complete(workers)
        await settle(self.pilot)

    def ticket(self) -> OrderTicket:
        screen = self.app.screen
        assert isinstance(screen, OrderTicket), f"no ticket open: {screen!r}"
        return screen

    def ticket_text(self, widget_id: str) -> str:
        widget = self.ticket().query_one(widget_id)
        if isinstance(widget, Input):
            return widget.value
        assert isinstance(widget, Static)
        return str(widget.render())


@asynccontextmanager
async def trading_session(
    size: tuple[int, int] = WIDE, *, keymap: dict[str, str] | None = None, trading: bool = True
) -> AsyncIterator[Session]:
    under = make_app(keymap=keymap)
    toasts: list[Notification] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            toasts.append(message.notification)

    async with under.app.run_test(size=size, message_hook=hook) as pilot:
        await load_market(pilot, under.feed)
        if trading:
            under.feed.post_all(trading_payloads())
            await settle(pilot)
        under.feed.requests.clear()  # the history asked for on selection: not a trading command
        yield Session(pilot, under.app, under.feed, under.clock, toasts)


def _submitted_order(args: dict[str, Any], status: str = "accepted") -> dict[str, Any]:
    row = order(
        args["client_order_id"],
        price=args.get("price"),
        quantity=args.get("quantity", "0.00348913"),
        status=status,
    )
    return msgspec.to_builtins(row)


def _number(text: str) -> Decimal:
    """A price as shown (padded to the instrument's precision: stom_tui/formatting.py)."""
    return Decimal(text.replace(",", ""))


def _accept_submit(args: dict[str, Any]) -> Any:
    return accepted("order.submit", order=_submitted_order(args))


# --- panes ----------------------------------------------------------------------------------


async def test_orders_positions_and_risk_fill_the_panes_and_the_status_line() -> None:
    async with trading_session() as s:
        pane = s.app.orders_pane
        first = "tui-7c1e0a9b2f4d6e81a3c5"
        assert pane.row_keys == [o.client_order_id for o in orders().orders]
        assert pane.cell_text(first, "price") == "143,250,000"
        assert pane.cell_text(first, "side") == "buy"
        assert pane.cell_text(first, "status") == "open"
        assert pane.cell_text(first, "id") == "…e81a3c5"
        partial = "tui-52d9e4b0c17a38f6d2e0"
        assert pane.cell_text(partial, "filled") == "0.004"
        assert pane.cell_text(partial, "avg") == "143,320,000"
        assert pane.cell_text(partial, "status") == "partial"
        assert pane.cell_text("tui-3e8f1a6b9c2d5e8f1a4b", "price") == "market"
        assert pane.cell_text("tui-e4d7c0b3a6f9e2d5c8b1", "reason") == DENIAL
        assert pane.border_title == "Orders · 3 open · 3 closed"
        # Beside the ladder and the tape at 160 columns: the columns that matter most.
        assert {"instrument", "side", "price", "quantity", "filled", "status"} <= set(
            pane.column_keys
        )

        positions_pane = s.app.positions_pane
        assert positions_pane.row_keys == [BTC, "005930.SIM", "KRW-ETH.SIM", "000660.SIM"]
        assert positions_pane.cell_text(BTC, "quantity") == "0.0315"
        # Padded to the instrument's price precision (stom_tui/formatting.py format_price).
        assert _number(positions_pane.cell_text(BTC, "avg")) == 143_180_000
        assert positions_pane.cell_text(BTC, "unrealized") == "+3,780"
        assert positions_pane.cell_text(BTC, "fees") == "2,260"
        assert _number(positions_pane.cell_text(BTC, "stop")) == 142_500_000
        assert _number(positions_pane.cell_text(BTC, "target")) == 144_000_000
        assert _number(positions_pane.cell_text(BTC, "trailing")) == 142_900_000
        assert positions_pane.cell_text("005930.SIM", "unrealized") == "-1,500"
        assert positions_pane.cell_text("KRW-ETH.SIM", "quantity") == "-0.5"
        assert positions_pane.border_title == "Positions · 3 open · 1 closed"
        assert positions_pane.border_subtitle == "paper · KRW 9,412,350 (+2,149,000 locked)"

        status = s.app.status_line.render().plain
        assert "PnL +5,517 KRW" in status
        assert "KILL" not in status and "paused" not in status


async def test_order_updates_change_cells_in_place_and_the_cursor_keeps_its_order() -> None:
    async with trading_session() as s:
        pane = s.app.orders_pane
        await s.press("O")  # into the orders table
        await s.press("down")
        assert pane.highlighted_key == "tui-52d9e4b0c17a38f6d2e0"
        calls = {"update_cell": 0, "clear": 0, "add_row": 0}
        for name in calls:
            original = getattr(pane, name)

            def counted(*args: object, _name: str = name, _original=original, **kw: object):
                calls[_name] += 1
                return _original(*args, **kw)

            setattr(pane, name, counted)

        snapshot = orders()
        filled = msgspec.structs.replace(
            snapshot.orders[1], filled="0.012", status="filled", fee="860.04"
        )
        newest = order("tui-ffff0000aaaa1111bbbb", side="sell", price="143330000")
        rows = [newest, snapshot.orders[0], filled, *snapshot.orders[2:]]
        s.feed.post(msgspec.structs.replace(snapshot, orders=rows))
        await settle(s.pilot)

        assert pane.row_keys[:3] == [
            newest.client_order_id,
            *[o.client_order_id for o in rows[1:3]],
        ]
        assert [row.key.value for row in pane.ordered_rows] == pane.row_keys
        assert pane.cell_text(filled.client_order_id, "status") == "filled"
        assert pane.cell_text(filled.client_order_id, "filled") == "0.012"
        # filled and status changed in place; the new order is one added row; nothing rebuilt.
        assert calls == {"update_cell": 2, "clear": 0, "add_row": 1}
        # The new order on top did not move the selection onto another order.
        assert pane.highlighted_key == filled.client_order_id


# --- order ticket ---------------------------------------------------------------------------


async def test_b_opens_the_ticket_at_the_best_ask_and_s_at_the_best_bid() -> None:
    async with trading_session() as s:
        await s.press("b")
        ticket = s.ticket()
        assert ticket.side == "buy" and ticket.info.id == BTC
        assert s.ticket_text("#ticket-price") == "143,302,000"
        assert "tick 1,000" in s.ticket_text("#ticket-price-note")
        await s.press("escape")
        assert not isinstance(s.app.screen, OrderTicket)
        await s.press("s")
        assert s.ticket().side == "sell"
        assert s.ticket_text("#ticket-price") == "143,300,000"
        # Switching the side moves a price still at its default to the other side's best.
        await s.pilot.click("#side-buy")
        await settle(s.pilot)
        assert s.ticket().side == "buy"
        assert s.ticket_text("#ticket-price") == "143,302,000"


async def test_up_and_down_step_the_price_by_the_tick_of_its_band() -> None:
    async with trading_session() as s:
        kakao = "035720.SIM"  # KRX: tick 50 below 50,000, tick 100 from 50,000
        s.app.select_instrument(kakao)
        await settle(s.pilot)
        book = BookSnapshot(
            id=kakao,
            ts_event=SNAPSHOT_TS_NS,
            seq=7,
            bids=[("49900", "120")],
            asks=[("49950", "80"), ("50000", "300")],
        )
        s.feed.post(book)
        await settle(s.pilot)
        await s.press("b")
        seen = [s.ticket_text("#ticket-price")]
        for key in ("up", "up", "down", "down", "down"):
            await s.press(key)
            seen.append(s.ticket_text("#ticket-price"))
        assert seen == ["49,950", "50,000", "50,100", "50,000", "49,950", "49,900"]
        await s.press("pageup")
        assert s.ticket_text("#ticket-price") == "50,800"  # 2 ticks of 50 to 50,000, 8 of 100


async def test_an_open_ticket_follows_the_book_until_the_price_is_typed() -> None:
    async with trading_session() as s:
        await s.press("b", *"0.01")
        book = s.app.trading.book
        assert book is not None
        moved = msgspec.structs.replace(
            book, asks=[("143310000", "0.5"), *book.asks[1:]], seq=book.seq + 1
        )
        s.feed.post(moved)
        await settle(s.pilot)
        assert "Ask 143,310,000" in s.ticket_text("#ticket-quote")
        assert s.ticket_text("#ticket-price") == "143,310,000"  # untouched: it follows
        await s.pilot.click("#kind-market")
        await settle(s.pilot)
        assert "market ≈ 143,310,000" in s.ticket_text("#ticket-price-note")


async def test_enter_sends_order_submit_and_an_acceptance_closes_the_ticket() -> None:
    async with trading_session() as s:
        s.feed.script("order.submit", _accept_submit)
        await s.press("b", *"0.01")
        assert "Value ≈ 1,433,020 KRW" in s.ticket_text("#ticket-estimate")
        assert "fee ≈ 716.51 KRW (taker 0.05%)" in s.ticket_text("#ticket-estimate")
        await s.press("enter")
        await s.finish_commands()
        (args,) = s.feed.sent("order.submit")
        client_order_id = args.pop("client_order_id")
        assert re.match(CLIENT_ID_PATTERN, client_order_id)
        assert args == {
            "instrument": BTC,
            "side": "buy",
            "type": "limit",
            "tif": "gtc",
            "price": BTC_BEST_ASK,
            "quantity": "0.01",
        }
        assert not isinstance(s.app.screen, OrderTicket)
        short = "…" + client_order_id[-7:]
        assert s.toast_texts("information") == [
            f"Order {short} sent: buy 0.01 KRW-BTC.SIM @ 143,302,000"
        ]


async def test_market_and_ioc_orders_send_their_type_and_time_in_force() -> None:
    async with trading_session() as s:
        s.feed.script("order.submit", _accept_submit)
        await s.press("s", *"0.02")
        ticket = s.ticket()
        await s.pilot.click("#kind-market")
        await settle(s.pilot)
        assert ticket.kind == "market"
        assert "taker" in s.ticket_text("#ticket-estimate")
        assert "market ≈ 143,300,000" in s.ticket_text("#ticket-price-note")
        await s.press("enter")
        await s.finish_commands()
        await s.press("b", *"0.02")
        await s.pilot.click("#kind-ioc")
        await settle(s.pilot)
        await s.press("enter")
        await s.finish_commands()
        market, ioc = s.feed.sent("order.submit")
        assert {k: market[k] for k in ("side", "type", "tif", "quantity")} == {
            "side": "sell",
            "type": "market",
            "tif": "ioc",
            "quantity": "0.02",
        }
        assert "price" not in market
        assert (ioc["type"], ioc["tif"], ioc["price"]) == ("limit", "ioc", BTC_BEST_ASK)


async def test_the_notional_toggle_computes_the_quantity_and_sends_the_amount() -> None:
    async with trading_session() as s:
        s.feed.script("order.submit", _accept_submit)
        await s.press("b", "ctrl+n")
        assert s.ticket().amount_mode == "notional"
        await s.press(*"500000")
        quantity = (Decimal(500000) / Decimal(BTC_BEST_ASK)).quantize(
            Decimal("0.00000001"), rounding=ROUND_DOWN
        )
        assert quantity == Decimal("0.00348913")
        assert s.ticket_text("#ticket-amount-note") == "KRW → 0.00348913 BTC"
        assert s.ticket().check is not None and s.ticket().check.quantity == quantity
        await s.press("enter")
        await s.finish_commands()
        (args,) = s.feed.sent("order.submit")
        assert args["notional"] == "500000" and "quantity" not in args
        assert args["price"] == BTC_BEST_ASK


async def test_rule_violations_show_inline_and_nothing_is_sent() -> None:
    async with trading_session() as s:
        s.feed.script("order.submit", _accept_submit)
        await s.press("b", *"0.000000001")
        assert "quantity has more than 8 decimals" in s.ticket_text("#ticket-problems")
        price = s.ticket().query_one("#ticket-price", Input)
        price.value = "143,301,500"
        await s.press("ctrl+u", *"0.00001")  # clear the quantity, then 1,433 KRW worth
        problems = s.ticket_text("#ticket-problems")
        assert "off the tick grid (tick 1,000): try 143,301,000 or 143,302,000" in problems
        assert "order value 1,433.02 KRW is below the minimum 5,000 KRW" in problems
        await s.press("enter")
        await s.finish_commands()
        assert s.feed.sent("order.submit") == []
        assert isinstance(s.app.screen, OrderTicket)


async def test_a_rejection_toasts_the_engines_reason_once_and_keeps_the_ticket_open() -> None:
    async with trading_session() as s:
        submitted: list[dict[str, Any]] = []

        def deny(args: dict[str, Any]) -> Any:
            submitted.append(args)
            return rejected("order.submit", DENIAL, order=_submitted_order(args, "denied"))

        s.feed.script("order.submit", deny)
        await s.press("b", *"0.01", "enter")
        await s.finish_commands()
        assert isinstance(s.app.screen, OrderTicket)  # still open: fix it and send again
        assert s.toast_texts("error") == [f"Buy 0.01 KRW-BTC.SIM @ 143,302,000 {DENIAL}"]
        # The engine's denied event for the same order: logged, not toasted a second time.
        denied_row = msgspec.convert(_submitted_order(submitted[0], "denied"), type=OrderRow)
        s.feed.post(
            OrderUpdate(ts=SNAPSHOT_TS_NS, seq=5, event="denied", order=denied_row, reason=DENIAL)
        )
        await settle(s.pilot)
        assert len(s.toast_texts("error")) == 1
        assert f"DENIED buy 0.01 KRW-BTC.SIM @ 143,302,000: {DENIAL}" in s.log_text()
        # Sending again is a new order with a new id.
        await s.press("enter")
        await s.finish_commands()
        assert submitted[0]["client_order_id"] != submitted[1]["client_order_id"]


async def test_no_reply_keeps_the_order_id_so_a_resend_cannot_double_the_order() -> None:
    async with trading_session() as s:
        s.feed.script("order.submit", TimeoutError("no reply"), _accept_submit)
        await s.press("b", *"0.01", "enter")
        await s.finish_commands()
        assert isinstance(s.app.screen, OrderTicket)
        assert any("No reply to order.submit" in text for text in s.toast_texts("error"))
        await s.press("enter")
        await s.finish_commands()
        first, second = s.feed.sent("order.submit")
        assert first["client_order_id"] == second["client_order_id"]
        assert not isinstance(s.app.screen, OrderTicket)


# --- cancel, cancel all, kill ---------------------------------------------------------------


async def test_c_cancels_the_order_selected_in_the_orders_pane() -> None:
    async with trading_session() as s:
        s.feed.script("order.cancel", lambda args: accepted("order.cancel"))
        await s.press("O", "down", "down")
        assert s.app.orders_pane.highlighted_key == "tui-a0b3c6d9e2f5a8b1c4d7"
        await s.press("c")
        await s.finish_commands()
        assert s.feed.sent("order.cancel") == [{"client_order_id": "tui-a0b3c6d9e2f5a8b1c4d7"}]
        assert "Cancel sent for order …8b1c4d7" in s.toast_texts("information")
        # A filled order has nothing to cancel: no command, a warning.
        await s.press("down", "c")
        await s.finish_commands()
        assert len(s.feed.sent("order.cancel")) == 1
        assert "Order …e8f1a4b is filled" in s.toast_texts("warning")


async def test_c_on_a_small_screen_shows_the_orders_first() -> None:
    async with trading_session(SMALL) as s:
        s.feed.script("order.cancel", lambda args: accepted("order.cancel"))
        assert s.app.orders_pane.region.area == 0
        await s.press("c")
        assert s.feed.requests == []
        assert s.app.main.view == "orders" and s.app.orders_pane.region.area > 0
        assert s.app.ladder.region.area > 0  # the orders take the chart's place, not the ladder's
        assert s.app.orders_pane.region.width == SMALL[0]
        await s.press("c")
        await s.finish_commands()
        assert s.feed.sent("order.cancel") == [{"client_order_id": "tui-7c1e0a9b2f4d6e81a3c5"}]


async def test_cancel_all_asks_first() -> None:
    async with trading_session() as s:
        s.feed.script(
            "order.cancel_all", lambda args: accepted("order.cancel_all", canceled=["a", "b"])
        )
        await s.press("X")
        assert isinstance(s.app.screen, ConfirmScreen)
        assert "3 open orders" in str(s.app.screen.query_one("#confirm-body", Static).render())
        await s.press("escape")
        await s.finish_commands()
        assert not isinstance(s.app.screen, ConfirmScreen)
        assert s.feed.requests == []
        await s.press("X", "enter")
        await s.finish_commands()
        assert s.feed.sent("order.cancel_all") == [{}]
        assert "Cancel sent for 2 order(s)" in s.toast_texts("information")


async def test_kill_asks_first_and_passes_the_flatten_choice() -> None:
    async with trading_session() as s:
        s.feed.script("kill", lambda args: accepted("kill", canceled=["a"], flatten=["b", "c"]))
        await s.press("K")
        assert isinstance(s.app.screen, ConfirmScreen)
        await s.press("escape")
        await s.finish_commands()
        assert s.feed.requests == []
        await s.press("K", "enter")
        await s.finish_commands()
        await s.press("K", "f", "enter")
        await s.finish_commands()
        no_flatten, flatten = s.feed.sent("kill")
        assert no_flatten["flatten"] is False and flatten["flatten"] is True
        assert flatten["reason"]
        assert "Kill switch on: 1 order(s) cancelled, 2 position(s) closing" in s.toast_texts(
            "warning"
        )
        # The engine's risk state then says the switch is on: no second toast for it.
        s.feed.post(killed_risk())
        await settle(s.pilot)
        assert not any("Kill switch is ON" in text for text in s.toast_texts())
        assert "KILL" in s.app.status_line.render().plain


async def test_trading_keys_do_nothing_while_the_engine_is_offline() -> None:
    async with trading_session() as s:
        s.feed.post(
            EngineStatus(state="offline", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS, reason="died")
        )
        await settle(s.pilot)
        await s.press("O", "b", "s", "c", "X", "K")
        await s.finish_commands()
        assert len(s.app.screen_stack) == 1
        assert s.feed.requests == []
        for action in ("buy", "sell", "cancel_order", "cancel_all", "kill"):
            assert s.app.main.check_action(action, ()) is None  # shown greyed out, not hidden
        # Back online: the keys work again.
        s.feed.post(EngineStatus(state="running", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS))
        await settle(s.pilot)
        await s.press("K")
        assert isinstance(s.app.screen, ConfirmScreen)


async def test_buy_is_disabled_while_market_data_is_stale_but_cancels_are_not() -> None:
    async with trading_session() as s:
        assert s.app.main.check_action("buy", ()) is True
        s.clock.advance(3 * 1_000_000_000)
        assert s.app.main.check_action("buy", ()) is None
        assert s.app.main.check_action("cancel_all", ()) is True


async def _palette_run(s: Session, query: str) -> None:
    await s.press("slash")
    for _ in range(60):
        if CommandPalette.is_open(s.app):
            break
        await s.pilot.pause(0.05)
    await s.pilot.press(*query)
    palette = s.app.screen
    assert isinstance(palette, CommandPalette)

    def found() -> bool:
        option_list = palette.query_one("CommandList")
        return (
            option_list.option_count > 0
            and query.rsplit(maxsplit=1)[-1].lower()
            in str(  # type: ignore[attr-defined]
                option_list.get_option_at_index(0).prompt  # type: ignore[attr-defined]
            ).lower()
        )

    for _ in range(60):
        if found():
            break
        await s.pilot.pause(0.05)
    assert found()
    await s.press("enter")
    await s.finish_commands()


async def test_the_palette_resets_the_kill_switch_and_says_why_when_offline() -> None:
    async with trading_session() as s:
        s.feed.script("kill.reset", lambda args: accepted("kill.reset"))
        await _palette_run(s, "reset the kill")
        assert s.feed.sent("kill.reset") == [{}]
        assert "Kill switch reset: new entries allowed" in s.toast_texts("information")

        s.feed.post(
            EngineStatus(state="offline", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS, reason="died")
        )
        await settle(s.pilot)
        await _palette_run(s, "kill switch")
        assert len(s.app.screen_stack) == 1 and len(s.feed.requests) == 1
        assert any(
            "Kill switch is unavailable: the engine is offline (died)" in text
            for text in s.toast_texts("warning")
        )


async def test_the_palette_opens_the_ticket() -> None:
    async with trading_session() as s:
        await _palette_run(s, "sell krw-btc")
        assert s.ticket().side == "sell" and s.ticket().info.id == BTC


async def test_trading_keys_are_remappable_and_listed_in_help() -> None:
    async with trading_session(keymap={"buy": "B", "kill": "ctrl+k"}) as s:
        await s.press("b")
        assert len(s.app.screen_stack) == 1
        await s.press("B")
        assert isinstance(s.app.screen, OrderTicket)
        await s.press("escape")
        keys = {entry.binding_id: entry.keys for entry in s.app.key_help()}
        assert keys["buy"] == "B"
        assert {"sell", "cancel_order", "cancel_all", "kill", "show_orders"} <= set(keys)
        footer_keys = {
            binding.id for binding in (a.binding for a in s.app.screen.active_bindings.values())
        }
        assert {"buy", "sell", "cancel_order", "cancel_all", "kill"} <= footer_keys


# --- order events, risk, reconciliation ----------------------------------------------------


async def test_a_fill_lands_in_the_log_with_a_toast_once() -> None:
    async with trading_session() as s:
        s.feed.post(fill_update(seq=101))
        s.feed.post(fill_update(seq=101))  # redelivered
        await settle(s.pilot)
        line = "FILL buy 0.01 KRW-BTC.SIM @ 50,000,000 fee 250 KRW (taker)"
        assert s.log_text().count(line) == 1
        assert s.toast_texts("information") == [
            "Filled buy 0.01 KRW-BTC.SIM @ 50,000,000 (fee 250 KRW)"
        ]


async def test_kill_switch_and_paused_instruments_show_in_the_status_line() -> None:
    async with trading_session() as s:
        s.feed.post(killed_risk())
        await settle(s.pilot)
        status = s.app.status_line.render().plain
        assert "KILL: daily loss limit reached" in status
        assert "PnL -301,250 KRW" in status and "paused 1" in status
        assert s.app.status_line.has_class("-kill")
        assert any("Kill switch is ON" in text for text in s.toast_texts("warning"))
        assert "entries paused on KRW-XRP.SIM: stale feed (4.2s)" in s.log_text()
        s.feed.post(risk())
        await settle(s.pilot)
        assert "KILL" not in s.app.status_line.render().plain
        assert "kill switch reset" in s.log_text()


async def test_reconciliation_differences_warn_and_are_logged() -> None:
    async with trading_session() as s:
        differences = [
            "order tui-1 open in the journal, unknown to the venue",
            "KRW-BTC.SIM position 0.0315 in the journal, 0.0305 at the venue",
        ]
        s.feed.post(Reconciliation(ts=SNAPSHOT_TS_NS, venue="SIM", differences=differences))
        await settle(s.pilot)
        assert s.toast_texts("warning") == ["Reconciliation with SIM: 2 difference(s); see the log"]
        for difference in differences:
            assert f"SIM: {difference}" in s.log_text()


async def test_views_on_a_small_screen_take_the_charts_place_below_the_ladder() -> None:
    async with trading_session(SMALL) as s:
        app = s.app
        assert app.ladder.region.area > 0 and app.chart.region.area > 0
        for key, pane in (("O", app.orders_pane), ("p", app.positions_pane)):
            await s.press(key)
            assert pane.region.width == SMALL[0] and pane.region.height >= 8
            assert app.chart.region.area == 0 and app.ladder.region.area > 0
            assert app.focused is pane
            await s.press(key)
            assert pane.region.area == 0 and app.chart.region.area > 0
            assert app.focused is app.watchlist
        await s.pilot.click("#view-bar", offset=(9, 0))  # the "Orders" tab (short labels)
        await settle(s.pilot)
        assert app.main.view == "orders"


async def test_account_before_positions_and_empty_snapshots_are_fine() -> None:
    async with trading_session(trading=False) as s:
        s.feed.post(account())
        s.feed.post(msgspec.structs.replace(positions(), positions=[]))
        s.feed.post(msgspec.structs.replace(orders(), orders=[]))
        await settle(s.pilot)
        assert s.app.positions_pane.row_keys == [] and s.app.orders_pane.row_keys == []
        assert s.app.orders_pane.border_title == "Orders"
        await s.press("c")
        assert s.feed.requests == []
        assert "No order selected" in s.toast_texts("warning")
