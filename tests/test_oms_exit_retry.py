"""A protective exit whose order ends without closing fires again: through the real OMS, risk,
paper venue and SQLite journal (tests/support/trading.py), as the engine wires them.

Before, the exit stayed "signalled" until the position changed: one denied or unfilled exit
order (an empty bid side for a moment, an order that found no bids on arrival) left the
position with no stop-loss at all, and nothing said so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE
from engine.domain.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.oms.order_requests import OrderRequest
from tests.support.trading import BTC, SAMSUNG, Desk, desk_settings, open_desk

STOP = "49000000"
BIDS = [49_999_000 - n * 1_000 for n in range(10)]


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    opened = open_desk(desk_settings(tmp_path))
    yield opened
    opened.close()


async def _long_with_a_stop(desk: Desk) -> None:
    await desk.command("order.submit", instrument=BTC, side="buy", type="market", quantity="0.01")
    desk.advance(11)
    reply = await desk.command("protect", instrument=BTC, stop_loss=STOP)
    assert reply.status == "accepted", reply.reason
    assert desk.oms.positions[BTC].quantity_raw == 1_000_000


def _exits(desk: Desk) -> list[Order]:
    return [o for o in desk.oms.orders.values() if o.strategy_id == "exit"]


def _empty_bids_and_a_trade_below_the_stop(desk: Desk) -> None:
    desk.feed(*[(BOOK_LEVEL, BTC, BID, price, 0) for price in BIDS])
    desk.feed((TRADE, BTC, ASK, 48_900_000, 1_000_000))


def _bids_below_the_stop(desk: Desk) -> None:
    desk.feed((BOOK_LEVEL, BTC, BID, 48_900_000, 10_000_000))


def _run_for(desk: Desk, ms: int) -> None:
    for _ in range(ms // 50):
        desk.advance(50)


async def test_an_exit_denied_for_want_of_bids_fires_again_and_closes(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    await _long_with_a_stop(desk)
    caplog.set_level(logging.INFO, logger="stom")
    _empty_bids_and_a_trade_below_the_stop(desk)
    desk.advance(150)  # the check runs: stop-loss hit on the last trade, no bids to sell to
    [first] = _exits(desk)
    assert first.status is OrderStatus.DENIED
    assert "fires again in 1 s" in caplog.text
    assert "did not close the position" in caplog.text

    _bids_below_the_stop(desk)
    _run_for(desk, 800)
    assert len(_exits(desk)) == 1, "fired again before its wait"
    _run_for(desk, 400)
    exits = _exits(desk)
    assert len(exits) == 2
    assert exits[1].status is OrderStatus.FILLED
    assert desk.oms.positions[BTC].quantity_raw == 0


async def test_an_exit_that_finds_no_bids_on_arrival_fires_again(desk: Desk) -> None:
    await _long_with_a_stop(desk)
    _bids_below_the_stop(desk)
    desk.feed(*[(BOOK_LEVEL, BTC, BID, price, 0) for price in BIDS])
    desk.advance(150)  # the stop fires at the 48.9M bid; the order travels 10 ms
    [first] = _exits(desk)
    assert first.is_open
    desk.feed((BOOK_LEVEL, BTC, BID, 48_900_000, 0))  # the bids go while it travels
    desk.advance(11)
    assert not first.is_open and first.filled_raw == 0
    assert desk.oms.positions[BTC].quantity_raw == 1_000_000

    _bids_below_the_stop(desk)
    _run_for(desk, 1_300)
    exits = _exits(desk)
    assert len(exits) == 2
    assert desk.oms.positions[BTC].quantity_raw == 0


async def test_the_wait_doubles_while_the_exit_keeps_failing(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    await _long_with_a_stop(desk)
    caplog.set_level(logging.INFO, logger="stom")
    _empty_bids_and_a_trade_below_the_stop(desk)
    desk.advance(150)
    assert len(_exits(desk)) == 1
    # No bids for a while: each try is denied, 1 s, then 2 s, then 4 s apart.
    tries = []
    for step in range(160):
        desk.feed((TRADE, BTC, ASK, 48_900_000, 1_000_000))  # the feed stays fresh
        desk.advance(50)
        if len(_exits(desk)) > len(tries) + 1:
            tries.append(step)
    assert len(tries) == 3, tries
    gaps = [b - a for a, b in zip([0, *tries], tries, strict=False)][1:]
    assert gaps == [40, 80], gaps  # 2 s and 4 s, in 50 ms steps
    for wait in ("1 s", "2 s", "4 s", "8 s"):
        assert f"fires again in {wait}" in caplog.text
    assert all(o.status is OrderStatus.DENIED for o in _exits(desk))
    assert desk.oms.positions[BTC].quantity_raw == 1_000_000


async def test_a_signal_left_by_the_last_run_with_no_order_open_fires_after_a_restart(
    tmp_path: Path,
) -> None:
    settings = desk_settings(tmp_path)
    desk = open_desk(settings)
    await _long_with_a_stop(desk)
    _empty_bids_and_a_trade_below_the_stop(desk)
    desk.advance(150)
    [denied] = _exits(desk)
    assert denied.status is OrderStatus.DENIED
    # A fill on another instrument journals every exit, this one still signalled.
    await desk.command("order.submit", instrument=SAMSUNG, side="buy", type="market", quantity="1")
    desk.advance(11)
    assert desk.oms.positions[SAMSUNG].quantity_raw != 0
    desk.close()

    again = open_desk(settings, desk.clock)
    try:
        assert again.oms.positions[BTC].quantity_raw == 1_000_000
        _bids_below_the_stop(again)
        again.feed(*[(BOOK_LEVEL, BTC, BID, price, 0) for price in BIDS])
        again.advance(150)
        again.advance(11)
        assert len(_exits(again)) == 2
        assert again.oms.positions[BTC].quantity_raw == 0
    finally:
        again.close()


async def test_no_second_exit_is_sent_while_an_exit_order_still_works(desk: Desk) -> None:
    # Another order with the exits' strategy id still working (one restored after a restart,
    # say; here placed directly through the OMS, as the engine's own code can): the failed exit
    # waits for it to end rather than risk selling the position twice.
    await _long_with_a_stop(desk)
    instrument = desk.oms.instrument(BTC)
    resting, _ = desk.oms.submit(
        OrderRequest(
            instrument=instrument,
            side=OrderSide.SELL,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            quantity_raw=1_000_000,
            price_raw=50_500_000,
            strategy_id="exit",
        ),
        desk.clock.now_ns(),
    )
    desk.advance(11)
    assert resting.is_open
    _empty_bids_and_a_trade_below_the_stop(desk)
    desk.advance(150)
    assert len(_exits(desk)) == 2  # the resting one and the denied stop
    _bids_below_the_stop(desk)
    _run_for(desk, 1_500)
    assert len(_exits(desk)) == 2, "a second exit was sent while one still worked"

    desk.oms.cancel(resting.client_order_id, desk.clock.now_ns())
    desk.advance(11)
    assert not resting.is_open
    _bids_below_the_stop(desk)
    _run_for(desk, 1_300)
    assert len(_exits(desk)) == 3
    assert desk.oms.positions[BTC].quantity_raw == 0
