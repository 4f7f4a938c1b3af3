"""Binance's own filters checked before an order is sent, and ``PENDING_CANCEL`` not taken for
cancelled (issue 11, finding 11), through the real adapter, live exchange and OMS against Binance's
loopback protocol server, whose filters the tests tighten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.venues.binance.loopback import BinanceLoopback
from engine.venues.binance.loopback_filters import average_price_e8
from engine.venues.binance.loopback_market import E8
from tests.support.trading_desk import serving
from tests.venues.exec_desk import Desk, binance_desk

KEY, SECRET = "exec-binance-key-7f3e", "exec-binance-secret-c2d9a4"
BTC = "BTCUSDT.BINANCE"


@pytest.fixture
async def server() -> AsyncIterator[BinanceLoopback]:
    loopback = BinanceLoopback(
        seed=8,
        symbols=["BTCUSDT"],
        api_key=KEY,
        api_secret=SECRET,
        warmup_s=5,
        rate=300,
        balances={"USDT": "1000000", "BTC": "5"},
    )
    async with serving(loopback):
        yield loopback


@pytest.fixture
async def desk(server: BinanceLoopback, tmp_path: Path) -> AsyncIterator[Desk]:
    balances = {"USDT": "1000000", "BTC": "5"}
    async with binance_desk(server, KEY, SECRET, tmp_path, balances) as desk:
        yield desk


def places(server: BinanceLoopback) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path.endswith("/order"))


async def refused(desk: Desk, server: BinanceLoopback, name: str, **order: str) -> str:
    """Submit ``order``; it must end rejected for filter ``name`` without reaching Binance."""
    before = places(server)
    coid = await desk.submit(instrument=BTC, **order)
    await desk.until(lambda: not desk.order(coid).is_open)
    reason = desk.order(coid).reason or ""
    assert desk.order(coid).status.value == "rejected", reason
    assert reason.startswith(f"BINANCE -1013: Filter failure: {name} (") and "not sent" in reason
    assert places(server) == before
    return reason


async def test_orders_that_break_binances_filters_are_refused_before_they_are_sent(
    server: BinanceLoopback, desk: Desk
) -> None:
    rules = server.exchange.rules
    rules.bid_up = Decimal("1.0001")  # buys more than 0.01 % over the average price
    rules.market_max_qty_e8 = E8 // 200  # market orders up to 0.005 BTC
    rules.max_notional_e8 = 500 * E8  # at most 500 USDT an order
    rules.max_num_orders = 2
    state = desk.state(BTC)
    tick = state.instrument.tick_table.tick_at(state.best_bid)
    book = server.market.books["BTCUSDT"]
    average = average_price_e8(book, server.server_time_ms(), 5) // 10**6  # at precision 2
    above = state.instrument.format_price(max(average * 1002 // 1000, state.best_ask))  # +0.2 %
    under = state.instrument.format_price(state.best_bid - 3_000 * tick)  # 30 USDT under

    await refused(desk, server, "PERCENT_PRICE_BY_SIDE", side="buy", price=above, quantity="0.001")
    await refused(desk, server, "MARKET_LOT_SIZE", side="buy", type="market", quantity="0.01")
    await refused(desk, server, "NOTIONAL", side="buy", price=under, quantity="0.01")

    for _ in range(2):
        coid = await desk.submit(instrument=BTC, side="buy", price=under, quantity="0.001")
        await desk.until(lambda coid=coid: desk.order(coid).status.value == "accepted")
    reason = await refused(
        desk, server, "MAX_NUM_ORDERS", side="buy", price=under, quantity="0.001"
    )
    assert "2 orders open on the symbol, at most 2" in reason


async def test_a_pending_cancel_is_not_a_cancel(server: BinanceLoopback, desk: Desk) -> None:
    state = desk.state(BTC)
    tick = state.instrument.tick_table.tick_at(state.best_bid)
    price = state.instrument.format_price(state.best_bid - 5_000 * tick)  # 50 USDT under
    coid = await desk.submit(instrument=BTC, side="buy", price=price, quantity="0.002")
    await desk.until(lambda: desk.order(coid).status.value == "accepted")
    server.exchange.hold_cancels = True
    assert (await desk.command("order.cancel", client_order_id=coid)).status == "accepted"
    venue_id = int(desk.order(coid).venue_order_id or 0)
    await desk.until(lambda: server.exchange.orders[venue_id].status == "PENDING_CANCEL")
    polls = len(server.requests)
    await desk.until(lambda: len(server.requests) > polls + 4)  # several polls saw PENDING_CANCEL
    assert desk.order(coid).status.value == "pending_cancel"
    assert coid in desk.core.oms.open
    server.exchange.release_cancels(server.server_time_ms())
    await desk.until(lambda: desk.order(coid).status.value == "canceled")
