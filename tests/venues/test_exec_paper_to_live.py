"""A namespace whose venue goes from paper to live with paper orders still open (issue 11,
finding 6), through the real trading core, journal, live exchange and Upbit adapter against
Upbit's loopback protocol server.

The open paper orders were taken by the paper exchange, so they are cancelled there (journaled,
with a log line, their reservations released) and never looked up on Upbit, which has never
heard of them. The other way round (live orders open, the venue back in paper mode) the engine
refuses to start and says what to do: the paper exchange must not pretend to hold them.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.secrets import Secret
from engine.domain.orders import OrderCanceled
from engine.venues.router import LiveOrdersLeftOpen
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from tests.support.trading_desk import serving
from tests.venues.exec_desk import Desk

ACCESS = "exec-upbit-access-0123456789abcdef"
SECRET = "exec-upbit-secret-0123456789abcdef0123456789"
BTC = "KRW-BTC.UPBIT"


def loopback() -> UpbitLoopback:
    return UpbitLoopback(seed=3, symbols=["KRW-BTC"], api_key=ACCESS, api_secret=SECRET,
                         balances={"KRW": Decimal(30_000_000)}, rate=200.0,
                         history_s=30.0)  # fmt: skip


def desk_on(server: UpbitLoopback, journal: Path) -> Desk:
    """A desk on ``server``'s books with the same journal (one engine's restarts)."""
    return Desk(UpbitFeed(server.rest_url, server.ws_url), journal, {"KRW": "10000000"})


def client_of(server: UpbitLoopback) -> UpbitOrderClient:
    return UpbitOrderClient(server.rest_url, access_key=Secret(ACCESS), secret_key=Secret(SECRET))


async def test_open_paper_orders_are_cancelled_on_paper_when_the_venue_goes_live(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "journal.sqlite"
    async with serving(loopback()) as server:
        paper = desk_on(server, journal)
        await paper.open(["KRW-BTC"])
        state = paper.state(BTC)
        price = state.best_bid - 20 * state.instrument.tick_table.tick_at(state.best_bid)
        resting = await paper.submit(instrument=BTC, side="buy", price=str(price), quantity="0.001")
        await paper.until(lambda: paper.order(resting).status.value == "accepted")
        paper_id = paper.order(resting).venue_order_id
        await paper.close()

        live = desk_on(server, journal)
        with caplog.at_level(logging.WARNING):
            await live.open(["KRW-BTC"], client_of(server))
            await live.until(lambda: not live.order(resting).is_open)
        try:
            order = live.order(resting)
            assert order.status.value == "canceled"
            assert "switched from paper to live" in (order.reason or "")
            assert resting not in live.core.oms.open
            assert live.core.oms.account.balances["KRW"].locked == 0
            ended = [
                event
                for _, event in live.core.journal.events()
                if isinstance(event, OrderCanceled) and event.client_order_id == resting
            ]
            assert len(ended) == 1
            assert any(
                resting in record.getMessage() and "paper" in record.getMessage()
                for record in caplog.records
            )
            # Upbit was never asked about the paper order, and reconciliation found nothing.
            assert not [line for line in server.request_lines if "/v1/order?" in line]
            assert not any(str(paper_id) in line for line in server.request_lines)
            assert live.core.differences == []
        finally:
            await live.close()


async def test_a_venue_back_in_paper_mode_with_live_orders_open_refuses_to_start(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.sqlite"
    async with serving(loopback()) as server:
        live = desk_on(server, journal)
        await live.open(["KRW-BTC"], client_of(server))
        state = live.state(BTC)
        price = state.best_bid - 20 * state.instrument.tick_table.tick_at(state.best_bid)
        resting = await live.submit(instrument=BTC, side="buy", price=str(price), quantity="0.001")
        await live.until(lambda: live.order(resting).status.value == "accepted")
        await live.close()

        for _ in range(2):  # and again: refusing records nothing that would let it through
            paper = desk_on(server, journal)
            with pytest.raises(LiveOrdersLeftOpen) as refused:
                await paper.open(["KRW-BTC"])
            message = str(refused.value)
            assert f"order {resting} on {BTC} is open on UPBIT" in message
            assert '[venues.upbit] mode = "live"' in message
        assert len(server.exchange.orders) == 1  # still on the venue, untouched
