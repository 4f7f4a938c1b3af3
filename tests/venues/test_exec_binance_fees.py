"""Binance fees in the asset Binance charges them in, through the real adapter, live exchange and
OMS against Binance's loopback protocol server (issue 11, finding 3).

Binance takes the commission of a buy out of the base asset received: 0.01234 BTC bought at
0.1 % leaves 0.01232766 BTC in the account. The position and the balance must say so, so that a
``kill --flatten`` sells what the account holds (whole lots of it) and Binance does not refuse it
with -2010 (insufficient balance).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.fixed_point import from_raw
from engine.venues.binance.loopback import BinanceLoopback
from tests.support.trading_desk import serving
from tests.venues.exec_desk import Desk, binance_desk

KEY, SECRET = "exec-binance-key-51c0", "exec-binance-secret-9a7d31"
BTC = "BTCUSDT.BINANCE"


@pytest.fixture
async def server() -> AsyncIterator[BinanceLoopback]:
    loopback = BinanceLoopback(seed=5, symbols=["BTCUSDT"], api_key=KEY, api_secret=SECRET,
                               warmup_s=5, rate=300, balances={"USDT": "1000000"})  # fmt: skip
    async with serving(loopback):
        yield loopback


@pytest.fixture
async def desk(server: BinanceLoopback, tmp_path: Path) -> AsyncIterator[Desk]:
    balances = {"USDT": "1000000"}
    async with binance_desk(server, KEY, SECRET, tmp_path, balances) as desk:
        yield desk


def venue_btc(server: BinanceLoopback) -> Decimal:
    free, locked = server.exchange.balances.get("BTC", [0, 0])
    return Decimal(free + locked).scaleb(-8)


async def test_a_base_asset_commission_leaves_what_binance_credited(
    server: BinanceLoopback, desk: Desk
) -> None:
    coid = await desk.submit(instrument=BTC, side="buy", type="market", quantity="0.01234")
    await desk.until(lambda: desk.order(coid).status.value == "filled")
    held = venue_btc(server)
    assert held < Decimal("0.01234")  # Binance kept its commission in BTC
    instrument = desk.state(BTC).instrument
    position = desk.core.oms.positions[BTC]
    assert from_raw(position.quantity_raw, instrument.size_precision) == held
    assert desk.core.oms.account.balances["BTC"].total == held
    # The fee is in the journal's fills and in the position's fees, valued in USDT exactly.
    fills = [fill for fill in desk.core.journal.fills() if fill.client_order_id == coid]
    assert position.fees_raw == sum(fill.fee_raw for fill in fills) > 0
    # USDT paid is the notional alone: the commission did not come out of USDT too.
    usdt_paid = Decimal(1_000_000) - desk.core.oms.account.balances["USDT"].total
    scale = instrument.price_precision + instrument.size_precision
    notional = sum(from_raw(fill.price_raw * fill.quantity_raw, scale) for fill in fills)
    assert usdt_paid == notional

    # kill --flatten sells the whole lots the account holds; Binance takes it (no -2010).
    reply = await desk.command("kill", reason="test", flatten=True)
    assert reply.status == "accepted" and reply.result is not None, reply.reason
    (flatten,) = reply.result["flatten"]
    await desk.until(lambda: not desk.order(flatten).is_open)
    assert desk.order(flatten).status.value == "filled", desk.order(flatten).reason
    left = from_raw(desk.core.oms.positions[BTC].quantity_raw, instrument.size_precision)
    assert left == venue_btc(server)
    assert Decimal(0) <= left < from_raw(instrument.lot_size_raw, instrument.size_precision)


async def test_a_bnb_commission_comes_out_of_bnb_at_the_discounted_rate(
    server: BinanceLoopback, desk: Desk
) -> None:
    server.exchange.pay_fees_in("BNB", bnb_price_usdt=Decimal(600))
    server.exchange.balances["BNB"] = [10 * 10**8, 0]
    coid = await desk.submit(instrument=BTC, side="buy", type="market", quantity="0.01")
    await desk.until(lambda: desk.order(coid).status.value == "filled")
    instrument = desk.state(BTC).instrument
    position = desk.core.oms.positions[BTC]
    assert from_raw(position.quantity_raw, instrument.size_precision) == Decimal("0.01")
    assert venue_btc(server) == Decimal("0.01")
    bnb_paid = Decimal(10 * 10**8 - server.exchange.balances["BNB"][0]).scaleb(-8)
    assert bnb_paid > 0
    assert desk.core.oms.account.balances["BNB"].total == -bnb_paid  # BNB held outside STOM
    # Valued in USDT at 0.1 % x 0.75 (Binance's BNB discount) of the notional.
    scale = instrument.price_precision + instrument.size_precision
    fills = [fill for fill in desk.core.journal.fills() if fill.client_order_id == coid]
    notional = sum(from_raw(fill.price_raw * fill.quantity_raw, scale) for fill in fills)
    fees = from_raw(position.fees_raw, scale)
    assert notional * Decimal("0.00075") <= fees <= notional * Decimal("0.00075") + Decimal("1e-8")


async def test_reconciliation_reports_at_once_a_position_the_account_does_not_hold(
    server: BinanceLoopback, desk: Desk
) -> None:
    exchange = desk.exchange
    assert exchange is not None
    first = await desk.submit(instrument=BTC, side="buy", type="market", quantity="0.01")
    await desk.until(lambda: desk.order(first).status.value == "filled")
    await desk.until(lambda: exchange.requests.failed == 0 and not exchange._holdings_queued)
    assert exchange.differences == []  # the position is what Binance credited
    server.exchange.balances["BTC"][0] -= 500_000  # 0.005 BTC leaves the account on the venue
    second = await desk.submit(instrument=BTC, side="buy", type="market", quantity="0.001")
    await desk.until(lambda: desk.order(second).status.value == "filled")
    (line,) = await desk.until(lambda: exchange.differences)
    position = from_raw(desk.core.oms.positions[BTC].quantity_raw, 8)
    assert line.startswith(f"BTC: the engine's position ({BTC}) is {position} but the BINANCE")
    assert f"holds {venue_btc(server)}" in line
