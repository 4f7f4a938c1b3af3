"""The order ticket on its own, driven through the Pilot over a minimal host app (a stand-in
ladder on the left, a status line and the footer at the bottom): the price follows the touch
until the user chooses it, maker/taker from the book, pre-trade limits checked as the user
types, one-key order types, and the layout docked to the right at 80x24 and 160x48.

Update the snapshots with ``pytest tests/test_app_ticket.py --snapshot-update`` only after
looking at them.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer, Input, RadioButton, Static

from engine.protocol.payloads import BookSnapshot, InstrumentInfo, Instruments, Reply
from engine.protocol.trading import Account, BalanceRow, Orders, Positions, RiskState
from stom_tui.screens.order_ticket import OrderTicket
from stom_tui.ticket import OrderKind, Quote, Side, TicketLimits, ticket_limits
from tests.fixtures.market_payloads import SNAPSHOT_TS_NS, snapshot_payloads
from tests.fixtures.trading_payloads import risk

SnapCompare = Callable[..., bool]
SMALL = (80, 24)
WIDE = (160, 48)
BTC = "KRW-BTC.SIM"
QUOTE = Quote(best_bid=Decimal("143300000"), best_ask=Decimal("143302000"))
LADDER_ROWS = 60


def _info(instrument_id: str = BTC) -> InstrumentInfo:
    instruments = next(p for p in snapshot_payloads() if isinstance(p, Instruments))
    return next(info for info in instruments.instruments if info.id == instrument_id)


def _book(bid: str, ask: str, instrument_id: str = BTC) -> BookSnapshot:
    return BookSnapshot(
        id=instrument_id, ts_event=SNAPSHOT_TS_NS, seq=1, bids=[(bid, "1")], asks=[(ask, "1")]
    )


def _limits(free_krw: str, **risk_fields: Any) -> TicketLimits:
    account = Account(
        ts=SNAPSHOT_TS_NS,
        mode="paper",
        balances=[BalanceRow(currency="KRW", free=free_krw, locked="0")],
    )
    fields = {
        "allow_short": False,
        "price_band_pct": "5",
        "max_position_notional": "1000000000",
        "max_gross_exposure": "1000000000",
        **risk_fields,
    }
    state: RiskState = risk(**fields)
    positions = Positions(ts=SNAPSHOT_TS_NS, positions=[])
    return ticket_limits(_info(), account, positions, state, Orders(ts=SNAPSHOT_TS_NS, orders=[]))


class Host(App[None]):
    """A stand-in for the market view: ladder rows on the left, status line and footer."""

    CSS = "#ladder { height: 1fr; } #status { height: 1; background: $panel; }"

    def compose(self) -> ComposeResult:
        rows = (
            f"ladder {143_310_000 - 1000 * i:>13,} │ {i % 7 + 1:>4}" for i in range(LADDER_ROWS)
        )
        yield Static("\n".join(rows), id="ladder")
        yield Static("LIVE KRW-BTC.SIM · engine running", id="status")
        yield Footer()


@dataclass
class Sent:
    """What the ticket sent through its ``submit`` callable."""

    args: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, args: dict[str, Any]) -> Reply | None:
        self.args.append(args)
        return Reply(id="t", type="order.submit", status="rejected", ts=0, reason="test")


@dataclass
class TicketSession:
    pilot: Pilot[None]
    ticket: OrderTicket
    sent: Sent

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)
        await settle(self.pilot)

    def kind(self) -> str:
        return self.ticket.kind

    def value(self, widget_id: str) -> str:
        return self.ticket.query_one(widget_id, Input).value

    def text(self, widget_id: str) -> str:
        return str(self.ticket.query_one(widget_id, Static).render())

    async def finish_sending(self) -> None:
        await self.pilot.pause()
        workers = [worker for worker in self.pilot.app.workers if worker.group == "trading"]
        if workers:
            await self.pilot.app.workers.wait_for_complete(workers)
        await settle(self.pilot)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()


def _ticket(
    sent: Sent,
    side: Side = "buy",
    quote: Quote = QUOTE,
    *,
    limits: TicketLimits | None = None,
    price: Decimal | None = None,
    kind: OrderKind = "limit",
    quantity: Decimal | None = None,
) -> OrderTicket:
    return OrderTicket(
        _info(), side, quote, sent, limits=limits, price=price, kind=kind, quantity=quantity
    )


@asynccontextmanager
async def ticket_session(
    size: tuple[int, int] = WIDE, **ticket_args: Any
) -> AsyncIterator[TicketSession]:
    app = Host()
    sent = Sent()
    async with app.run_test(size=size) as pilot:
        ticket = _ticket(sent, **ticket_args)
        await app.push_screen(ticket)
        await settle(pilot)
        yield TicketSession(pilot, ticket, sent)


def screen_text(app: App[Any]) -> list[str]:
    """The screen as plain text lines, modal and the screen under it composed."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text().splitlines()


# --- the price follows the touch ------------------------------------------------------------


async def test_the_price_follows_the_touch_until_the_user_types_one() -> None:
    async with ticket_session() as s:
        assert s.value("#ticket-price") == "143,302,000"
        s.ticket.update_quote(Quote(Decimal("143305000"), Decimal("143307000")))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,307,000"
        assert not s.ticket.price_edited
        price = s.ticket.query_one("#ticket-price", Input)
        price.focus()  # selects the text: typing replaces it
        await s.press(*"143305000")
        assert s.value("#ticket-price") == "143305000"
        assert s.ticket.price_edited
        s.ticket.update_book(_book("143310000", "143311000"))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143305000"  # stays as typed
        assert "Ask 143,311,000" in s.text("#ticket-quote")


async def test_stepping_the_price_with_the_keys_stops_the_follow() -> None:
    async with ticket_session() as s:
        await s.press("up")
        assert s.value("#ticket-price") == "143,303,000"
        s.ticket.update_quote(Quote(Decimal("143305000"), Decimal("143307000")))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,303,000"


async def test_several_quotes_before_the_field_redraws_still_follow() -> None:
    async with ticket_session() as s:
        for ask in ("143303000", "143304000", "143306000"):
            s.ticket.update_quote(Quote(Decimal("143300000"), Decimal(ask)))
        await settle(s.pilot)
        assert not s.ticket.price_edited
        assert s.value("#ticket-price") == "143,306,000"


async def test_a_price_from_the_ladder_does_not_follow() -> None:
    async with ticket_session(price=Decimal("143250000")) as s:
        assert s.value("#ticket-price") == "143,250,000"
        assert s.ticket.price_edited
        s.ticket.update_book(_book("143300000", "143290000"))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,250,000"


async def test_a_sell_follows_the_bid_and_a_side_switch_follows_the_new_touch() -> None:
    async with ticket_session(side="sell") as s:
        assert s.value("#ticket-price") == "143,300,000"
        s.ticket.update_book(_book("143299000", "143301000"))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,299,000"
        await s.pilot.click("#side-buy")
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,301,000"
        # Another instrument's book is not this ticket's touch.
        s.ticket.update_book(_book("49900", "49950", "035720.SIM"))
        await settle(s.pilot)
        assert s.value("#ticket-price") == "143,301,000"


# --- maker or taker, from the book ----------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "role"),
    [
        ("buy", "143302000", "taker"),  # at the best ask
        ("buy", "143305000", "taker"),  # through it
        ("buy", "143301000", "maker"),  # inside the spread
        ("sell", "143300000", "taker"),  # at the best bid
        ("sell", "143290000", "taker"),
        ("sell", "143301000", "maker"),
    ],
)
async def test_maker_or_taker_is_told_from_the_book(side: Side, price: str, role: str) -> None:
    async with ticket_session(side=side, price=Decimal(price)) as s:
        await s.press(*"0.01")
        assert f"({role} 0.05%)" in s.text("#ticket-estimate")
        assert s.ticket.check is not None and s.ticket.check.taker == (role == "taker")


async def test_a_maker_limit_becomes_taker_when_the_book_moves_to_it() -> None:
    async with ticket_session(price=Decimal("143301000")) as s:
        await s.press(*"0.01")
        assert "(maker" in s.text("#ticket-estimate")
        s.ticket.update_book(_book("143299000", "143301000"))
        await settle(s.pilot)
        assert "(taker" in s.text("#ticket-estimate")


# --- pre-trade limits as you type -----------------------------------------------------------


async def test_a_500m_buy_against_99m_free_is_not_sendable() -> None:
    quote = Quote(Decimal("49999000"), Decimal("50000000"))
    limits = _limits("99000000", max_order_notional="1000000000")
    async with ticket_session(quote=quote, limits=limits) as s:
        await s.press(*"10")
        problems = s.text("#ticket-problems")
        assert (
            "✗ the buy costs 500,250,000 KRW with the fee 250,000 KRW, more than the free "
            "99,000,000 KRW" in problems
        )
        assert s.ticket.check is not None and s.ticket.check.args is None
        await s.press("enter")
        await s.finish_sending()
        assert s.sent.args == []
        assert s.pilot.app.screen is s.ticket
        # Fewer: within the free balance, sendable.
        await s.press("backspace", "backspace", *"1")
        assert "✓ no rule broken" in s.text("#ticket-problems")
        await s.press("enter")
        await s.finish_sending()
        assert len(s.sent.args) == 1 and s.sent.args[0]["quantity"] == "1"


async def test_max_order_notional_blocks_an_order_over_it() -> None:
    quote = Quote(Decimal("49999000"), Decimal("50000000"))
    limits = _limits("999000000", max_order_notional="50000000")
    async with ticket_session(quote=quote, limits=limits) as s:
        await s.press(*"1.2")
        assert "✗ order value 60,000,000 KRW exceeds the max order value 50,000,000 KRW" in s.text(
            "#ticket-problems"
        )
        await s.press("enter")
        await s.finish_sending()
        assert s.sent.args == []


async def test_limits_that_arrive_while_typing_are_checked_at_once() -> None:
    async with ticket_session() as s:
        await s.press(*"0.01")
        assert "? not checked: buying power and risk limits" in s.text("#ticket-unchecked")
        s.ticket.update_limits(_limits("1000", max_order_notional="50000000"))
        await settle(s.pilot)
        assert "more than the free 1,000 KRW" in s.text("#ticket-problems")
        assert s.text("#ticket-unchecked") == ""


async def test_unknown_limits_show_as_not_checked_and_do_not_block() -> None:
    async with ticket_session() as s:
        await s.press(*"0.01")
        assert s.text("#ticket-unchecked").startswith("? not checked: buying power and risk")
        await s.press("enter")
        await s.finish_sending()
        assert len(s.sent.args) == 1


async def test_the_kill_switch_blocks_an_entry() -> None:
    limits = _limits("99000000", kill_switch=True, kill_reason="daily loss limit reached")
    async with ticket_session(limits=limits) as s:
        await s.press(*"0.01")
        assert "the kill switch is on (daily loss limit reached)" in s.text("#ticket-problems")


# --- one key per order type -----------------------------------------------------------------


async def test_m_l_i_switch_the_type_while_a_number_field_has_focus() -> None:
    async with ticket_session() as s:
        assert s.ticket.query_one("#ticket-amount", Input).has_focus
        await s.press(*"0.0", "m", "1")
        assert s.kind() == "market"
        assert s.value("#ticket-amount") == "0.01"  # digits typed, the letter not
        assert s.ticket.query_one("#ticket-price", Input).disabled
        assert "market ≈ 143,302,000" in s.text("#ticket-price-note")
        await s.press("i")
        assert s.kind() == "ioc"
        assert not s.ticket.query_one("#ticket-price", Input).disabled
        await s.press("l")
        assert s.kind() == "limit"
        price = s.ticket.query_one("#ticket-price", Input)
        price.focus()
        await s.press("end", "i")
        assert s.kind() == "ioc" and s.value("#ticket-price") == "143,302,000"
        await s.press("enter")
        await s.finish_sending()
        (args,) = s.sent.args
        assert (args["type"], args["tif"], args["price"]) == ("limit", "ioc", "143302000")


async def test_the_ladder_can_open_an_ioc_ticket_with_its_default_size() -> None:
    ticket_args: dict[str, Any] = {
        "kind": "ioc",
        "price": Decimal("143302000"),
        "quantity": Decimal("0.01"),
    }
    async with ticket_session(**ticket_args) as s:
        assert s.ticket.query_one("#kind-ioc", RadioButton).value
        assert "Buy IOC KRW-BTC.SIM" in str(s.ticket.query_one("#ticket-panel").border_title)
        assert s.value("#ticket-amount") == "0.01"
        await s.press("enter")
        await s.finish_sending()
        (args,) = s.sent.args
        assert (args["tif"], args["price"], args["quantity"]) == ("ioc", "143302000", "0.01")


# --- layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
async def test_the_ticket_docks_right_and_leaves_the_ladder_and_status_line_visible(
    size: tuple[int, int],
) -> None:
    async with ticket_session(size=size) as s:
        panel = s.ticket.query_one("#ticket-panel")
        width, height = size
        assert panel.region.width <= 40
        assert panel.region.right == width
        assert panel.region.y == 0 and panel.region.bottom == height - 2
        lines = screen_text(s.pilot.app)
        left = width - panel.region.width
        assert lines[0][:left].startswith("ladder   143,310,000")
        assert lines[height - 2].startswith("LIVE KRW-BTC.SIM")
        # The screen under the ticket keeps updating (a live ladder stays live).
        s.pilot.app.screen_stack[0].query_one("#ladder", Static).update("ladder moved")
        await settle(s.pilot)
        assert screen_text(s.pilot.app)[0].startswith("ladder moved")


def _snapshot_run(
    ticket_args: dict[str, Any], *keys: str
) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.app.push_screen(_ticket(Sent(), **ticket_args))
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "160x48"])
def test_ticket_snapshot(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    limits = _limits("99000000", max_order_notional="50000000")
    run_before = _snapshot_run({"limits": limits}, *"0.5")
    assert snap_compare(Host(), terminal_size=size, run_before=run_before)


def test_ticket_blocked_snapshot_at_80x24(snap_compare: SnapCompare) -> None:
    quote = Quote(Decimal("49999000"), Decimal("50000000"))
    limits = _limits("99000000", max_order_notional="1000000000")
    run_before = _snapshot_run({"quote": quote, "limits": limits}, *"10")
    assert snap_compare(Host(), terminal_size=SMALL, run_before=run_before)
