"""Upbit fees as Upbit charged them (issue 11, finding 9), through the real adapter, live exchange
and OMS against Upbit's loopback protocol server: the fills' fees add up to the order's
``paid_fee`` whatever the account's rate is (here not the 0.05 % the adapter used to assume), and
maker or taker comes from each trade's ``trend``, not from timestamps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.secrets import Secret
from engine.domain.fixed_point import from_raw
from engine.domain.market_data import ASK
from engine.venues.upbit import UpbitFeed, UpbitOrderClient
from engine.venues.upbit.loopback import UpbitLoopback
from engine.venues.upbit.loopback_market import TradeRecord
from tests.support.trading_desk import serving
from tests.venues.exec_desk import Desk, opened

ACCESS = "exec-upbit-access-0123456789abcdef"
SECRET = "exec-upbit-secret-0123456789abcdef0123456789"
BTC = "KRW-BTC.UPBIT"
RATE = Decimal("0.00139")
"""Not Upbit's usual 0.05 %: what the account pays is whatever ``paid_fee`` says."""


@pytest.fixture
async def server() -> AsyncIterator[UpbitLoopback]:
    loopback = UpbitLoopback(seed=4, symbols=["KRW-BTC"], api_key=ACCESS, api_secret=SECRET,
                             balances={"KRW": Decimal(300_000_000)}, rate=400.0,
                             history_s=30.0)  # fmt: skip
    loopback.exchange.fee_rate = RATE
    async with serving(loopback):
        yield loopback


@pytest.fixture
async def desk(server: UpbitLoopback, tmp_path: Path) -> AsyncIterator[Desk]:
    desk = Desk(UpbitFeed(server.rest_url, server.ws_url), tmp_path / "j.sqlite",
                {"KRW": "300000000"})  # fmt: skip
    client = UpbitOrderClient(server.rest_url, access_key=Secret(ACCESS),
                              secret_key=Secret(SECRET))  # fmt: skip
    async with opened(desk, ["KRW-BTC"], client):
        yield desk


def paid_fee(server: UpbitLoopback, venue_order_id: str) -> Decimal:
    return server.exchange.orders[venue_order_id].paid_fee


async def test_fills_carry_upbits_paid_fee_and_takers_are_takers(
    server: UpbitLoopback, desk: Desk
) -> None:
    coid = await desk.submit(instrument=BTC, side="buy", type="market", quantity="0.02")
    await desk.until(lambda: desk.order(coid).status.value == "filled")
    order = desk.order(coid)
    instrument = desk.state(BTC).instrument
    scale = instrument.price_precision + instrument.size_precision
    fills = [fill for fill in desk.core.journal.fills() if fill.client_order_id == coid]
    assert fills and all(fill.liquidity == "taker" for fill in fills)
    assert from_raw(sum(fill.fee_raw for fill in fills), scale) == paid_fee(
        server, order.venue_order_id or ""
    )
    notional = from_raw(order.filled_notional_raw, scale)
    assert from_raw(order.fee_raw, scale) > notional * Decimal("0.0013")  # not 0.05 %


async def test_a_resting_order_filled_by_the_market_is_a_maker(
    server: UpbitLoopback, desk: Desk
) -> None:
    state = desk.state(BTC)
    tick = state.instrument.tick_table.tick_at(state.best_bid)
    price = state.best_bid - 10 * tick  # rests: well under the touch
    server.pause_market()
    coid = await desk.submit(
        instrument=BTC, side="buy", price=state.instrument.format_price(price), quantity="0.0005"
    )
    await desk.until(lambda: desk.order(coid).status.value == "accepted")
    # A seller takes bids down through our price: the resting order fills as a maker, at a
    # creation time a second or more before its trade or not (timing no longer decides).
    now = server.now_ns()
    sell = TradeRecord(position=0, ts_ns=now, price_raw=price, size_raw=10**8, side=ASK,
                       sequential_id=now)  # fmt: skip
    server.exchange.on_trades([sell], now)
    await desk.until(lambda: desk.order(coid).status.value == "filled")
    fills = [fill for fill in desk.core.journal.fills() if fill.client_order_id == coid]
    assert fills and all(fill.liquidity == "maker" for fill in fills)
    scale = state.instrument.price_precision + state.instrument.size_precision
    venue_id = desk.order(coid).venue_order_id or ""
    assert from_raw(sum(fill.fee_raw for fill in fills), scale) == paid_fee(server, venue_id)
