"""The OMS through its commands, in process: real risk, paper venue, SQLite journal, account."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.market_data import ASK, BID
from tests.support.trading import BTC, SAMSUNG, Desk, desk_settings, open_desk


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    opened = open_desk(desk_settings(tmp_path))
    yield opened
    opened.close()


async def test_limit_order_works_then_cancels(desk: Desk) -> None:
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49999000", quantity="0.01"
    )
    assert reply.status == "accepted", reply.reason
    order = reply.result["order"]
    assert order["status"] == "submitted" and order["price"] == "49999000"
    coid = order["client_order_id"]
    desk.advance(5)
    assert desk.oms.orders[coid].status == "submitted"  # order latency 10 ms
    desk.advance(6)
    assert desk.oms.orders[coid].status == "accepted"
    assert desk.oms.account.balances["KRW"].locked > 0
    cancel = await desk.command("order.cancel", client_order_id=coid)
    assert cancel.status == "accepted" and cancel.result["order"]["status"] == "pending_cancel"
    desk.advance(11)
    assert desk.oms.orders[coid].status == "canceled"
    assert desk.oms.account.balances["KRW"].locked == 0
    again = await desk.command("order.cancel", client_order_id=coid)
    assert again.status == "rejected" and "already canceled" in again.reason


async def test_market_buy_walks_the_book_and_reconciles_cash_to_the_unit(desk: Desk) -> None:
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", type="market", quantity="0.15"
    )
    assert reply.status == "accepted", reply.reason
    coid = reply.result["order"]["client_order_id"]
    desk.advance(11)
    order = desk.oms.orders[coid]
    assert order.status == "filled"
    # 0.1 at 50,000,000 then 0.05 at 50,001,000: notional in 1e-8 KRW.
    notional = 50_000_000 * 10_000_000 + 50_001_000 * 5_000_000
    assert order.filled_notional_raw == notional
    fee = -(-notional * 5 // 10_000)
    assert order.fee_raw == fee
    position = desk.oms.positions[BTC]
    assert position.quantity_raw == 15_000_000 and position.cost_raw == notional
    krw = desk.oms.account.balances["KRW"]
    assert krw.total == Decimal(100_000_000) - (Decimal(notional + fee) / 10**8)
    assert krw.locked == 0
    assert desk.oms.account.balances["BTC"].total == Decimal("0.15")


async def test_same_client_order_id_is_idempotent(desk: Desk) -> None:
    args = {"instrument": BTC, "side": "buy", "price": "49990000", "quantity": "0.01"}
    first = await desk.command("order.submit", client_order_id="mine-1", **args)
    second = await desk.command("order.submit", client_order_id="mine-1", **args)
    assert first.status == second.status == "accepted"
    assert second.result["duplicate"] is True
    assert [o for o in desk.oms.orders if o == "mine-1"] == ["mine-1"]
    assert len(desk.oms.open) == 1


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"side": "hold"}, "side must be one of buy, sell; got 'hold'"),
        ({"quantity": "-0.01"}, "quantity must be positive, got '-0.01'"),
        ({"quantity": "0"}, "quantity must be positive, got '0'"),
        ({"quantity": "0.000000001"}, "more than 8 decimal places"),
        ({"price": "50000500"}, "price 50000500 is off the tick grid of KRW-BTC.SIM (tick 1000"),
        ({"price": "abc"}, "'abc' is not a number"),
        ({"instrument": "NOPE.SIM"}, "unknown instrument 'NOPE.SIM'"),
        ({"type": "stop"}, "type must be one of limit, market; got 'stop'"),
        ({"type": "market", "tif": "gtc", "price": None}, "a market order cannot rest"),
        ({"notional": "100000"}, "give exactly one of 'quantity' or 'notional'"),
    ],
)
async def test_bad_input_is_rejected_with_a_reason_and_changes_nothing(
    desk: Desk, args: dict, reason: str
) -> None:
    base = {"instrument": BTC, "side": "buy", "price": "49990000", "quantity": "0.01"}
    base.update(args)
    base = {key: value for key, value in base.items() if value is not None}
    before = (desk.core.journal.last_seq(), dict(desk.oms.orders), desk.oms.account.free("KRW"))
    reply = await desk.command("order.submit", **base)
    assert reply.status == "rejected"
    assert reason in reply.reason
    after = (desk.core.journal.last_seq(), dict(desk.oms.orders), desk.oms.account.free("KRW"))
    assert after == before


async def test_cancel_of_an_unknown_order_is_rejected(desk: Desk) -> None:
    reply = await desk.command("order.cancel", client_order_id="O999")
    assert reply.status == "rejected" and reply.reason == "unknown order id 'O999'"
    bad = await desk.command("order.cancel", client_order_id="no spaces")
    assert bad.status == "rejected" and "client_order_id must be" in bad.reason


async def test_replace_moves_a_working_order(desk: Desk) -> None:
    first = await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49990000", quantity="0.01"
    )
    old = first.result["order"]["client_order_id"]
    desk.advance(11)
    reply = await desk.command("order.replace", client_order_id=old, price="49995000")
    assert reply.status == "accepted", reply.reason
    new = reply.result["order"]
    assert new["replaces"] == old and new["price"] == "49995000"
    desk.advance(11)
    assert desk.oms.orders[old].status == "canceled"
    assert desk.oms.orders[new["client_order_id"]].status == "accepted"
    assert len(desk.oms.open) == 1


async def test_resting_order_fills_when_trades_reach_it(desk: Desk) -> None:
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49999000", quantity="0.05"
    )
    coid = reply.result["order"]["client_order_id"]
    desk.advance(11)
    # 0.1 BTC displayed ahead at 49,999,000: a 0.12 sell trade there fills 0.02 of ours.
    desk.trade(BTC, ASK, 49_999_000, 12_000_000)
    order = desk.oms.orders[coid]
    assert order.filled_raw == 2_000_000 and order.status == "partially_filled"
    assert desk.oms.positions[BTC].quantity_raw == 2_000_000


async def test_kill_switch_cancels_blocks_entries_and_flattens(desk: Desk) -> None:
    bought = await desk.command(
        "order.submit", instrument=BTC, side="buy", type="market", quantity="0.02"
    )
    assert bought.status == "accepted"
    resting = await desk.command(
        "order.submit", instrument=SAMSUNG, side="buy", price="69000", quantity="10"
    )
    desk.advance(11)
    assert desk.oms.positions[BTC].quantity_raw == 2_000_000
    kill = await desk.command("kill", flatten=True)
    assert kill.status == "accepted"
    assert kill.result["canceled"] == [resting.result["order"]["client_order_id"]]
    assert len(kill.result["flatten"]) == 1
    desk.advance(11)
    assert desk.oms.positions[BTC].quantity_raw == 0
    entry = await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49990000", quantity="0.01"
    )
    assert entry.status == "rejected" and "kill_switch" in entry.reason
    reset = await desk.command("kill.reset")
    assert reset.status == "accepted"
    entry = await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49990000", quantity="0.01"
    )
    assert entry.status == "accepted", entry.reason


async def test_restart_rebuilds_orders_positions_and_balances(tmp_path: Path) -> None:
    settings = desk_settings(tmp_path)
    desk = open_desk(settings)
    await desk.command("order.submit", instrument=BTC, side="buy", type="market", quantity="0.12")
    await desk.command(
        "order.submit", instrument=BTC, side="buy", price="49990000", quantity="0.01"
    )
    desk.advance(11)
    await desk.command("order.submit", instrument=BTC, side="sell", type="market", quantity="0.05")
    desk.advance(11)
    before = {
        "orders": {k: (o.status, o.filled_raw, o.fee_raw) for k, o in desk.oms.orders.items()},
        "position": vars_of(desk.oms.positions[BTC]),
        "balances": {c: (b.total, b.locked) for c, b in desk.oms.account.balances.items()},
        "open": set(desk.oms.open),
    }
    desk.close()
    again = open_desk(settings, desk.clock)
    try:
        after = {
            "orders": {k: (o.status, o.filled_raw, o.fee_raw) for k, o in again.oms.orders.items()},
            "position": vars_of(again.oms.positions[BTC]),
            "balances": {c: (b.total, b.locked) for c, b in again.oms.account.balances.items()},
            "open": set(again.oms.open),
        }
        assert after == before
        assert again.core.differences == []
        assert again.core.exchange.open_order_ids() == before["open"]
    finally:
        again.close()


async def test_protective_stop_closes_the_position(desk: Desk) -> None:
    await desk.command("order.submit", instrument=BTC, side="buy", type="market", quantity="0.01")
    desk.advance(11)
    reply = await desk.command("protect", instrument=BTC, stop_loss="49000000")
    assert reply.status == "accepted", reply.reason
    assert reply.result["position"]["stop_loss"] == "49000000"
    # The market falls through the stop: bids at 48.9M and below.
    desk.feed(*[(0, BTC, BID, 49_999_000 - n * 1_000, 0) for n in range(10)])
    desk.feed((0, BTC, BID, 48_900_000, 10_000_000), (0, BTC, ASK, 48_901_000, 10_000_000))
    desk.advance(150)
    desk.advance(11)
    assert desk.oms.positions[BTC].quantity_raw == 0
    assert any(o.strategy_id == "exit" for o in desk.oms.orders.values())


def vars_of(position: object) -> dict:
    return {name: getattr(position, name) for name in position.__slots__}  # type: ignore[attr-defined]


async def test_daily_loss_limit_trips_the_kill_switch(tmp_path: Path) -> None:
    desk = open_desk(desk_settings(tmp_path, daily_loss_limit={"KRW": "10000"}))
    try:
        await desk.command(
            "order.submit", instrument=BTC, side="buy", type="market", quantity="0.05"
        )
        resting = await desk.command(
            "order.submit", instrument=SAMSUNG, side="buy", price="69000", quantity="10"
        )
        desk.advance(150)
        assert not desk.oms.risk_state.kill_switch
        # The bid falls 1,000,000 KRW: 0.05 BTC loses 50,000 KRW unrealized.
        desk.feed(*[(0, BTC, BID, 49_999_000 - n * 1_000, 0) for n in range(10)])
        desk.feed((0, BTC, BID, 48_999_000, 10_000_000), (0, BTC, ASK, 49_000_000, 10_000_000))
        desk.advance(150)
        assert desk.oms.risk_state.kill_switch
        assert "daily loss" in desk.oms.risk_state.kill_reason
        desk.advance(11)
        order = desk.oms.orders[resting.result["order"]["client_order_id"]]
        assert order.status == "canceled"
    finally:
        desk.close()
