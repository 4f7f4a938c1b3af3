"""Each pre-trade risk rule, through the order command: the denial and its reason in the reply and
in the log. (Unknown instrument, bad quantity, lot and tick are refused earlier, as bad input: see
test_oms_orders.py; the risk engine's own checks for them are in test_risk_pre_trade.py.)"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.trading import BTC, Desk, desk_settings, open_desk

BUY = {"instrument": BTC, "side": "buy", "price": "49990000"}


async def denied(desk: Desk, caplog: pytest.LogCaptureFixture, rule: str, **args: Any) -> str:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stom"):
        reply = await desk.command("order.submit", **args)
    assert reply.status == "rejected", f"expected a {rule} denial, got {reply}"
    assert reply.reason.startswith(f"denied by risk ({rule}: "), reply.reason
    assert reply.result["order"]["status"] == "denied"
    logged = [
        r.getMessage() for r in caplog.records if f"denied by risk ({rule})" in r.getMessage()
    ]
    assert logged, f"no log line for the {rule} denial: {[r.getMessage() for r in caplog.records]}"
    return reply.reason


def make(tmp_path: Path, **risk: Any) -> Desk:
    return open_desk(desk_settings(tmp_path, **risk))


async def test_price_band(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, price_band_pct="5")
    reason = await denied(
        desk, caplog, "price_band", **{**BUY, "price": "53000000"}, quantity="0.01"
    )
    assert "53,000,000" in reason
    desk.close()


async def test_min_notional(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path)
    reason = await denied(desk, caplog, "min_notional", **BUY, quantity="0.00001")
    assert "5,000" in reason
    desk.close()


async def test_no_limit_for_the_currency(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_order_notional={"USDT": "1000"})
    reason = await denied(desk, caplog, "no_limit", **BUY, quantity="0.01")
    assert "KRW" in reason
    desk.close()


async def test_max_order_notional(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_order_notional={"KRW": "1000000"})
    reason = await denied(desk, caplog, "max_order_notional", **BUY, quantity="0.1")
    assert "1,000,000" in reason
    desk.close()


async def test_max_position(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_position_notional={"KRW": "2000000"})
    await denied(desk, caplog, "max_position", instrument=BTC, side="buy", type="market",
                 quantity="0.05")  # fmt: skip
    desk.close()


async def test_max_gross_exposure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_gross_exposure={"KRW": "3000000"})
    first = await desk.command("order.submit", **BUY, quantity="0.05")
    assert first.status == "accepted", first.reason
    await denied(desk, caplog, "max_gross_exposure", **BUY, quantity="0.02")
    desk.close()


async def test_max_open_orders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_open_orders=1)
    assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    await denied(desk, caplog, "max_open_orders", **BUY, quantity="0.01")
    desk.close()


async def test_rate_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, max_orders_per_second=2)
    for _ in range(2):
        assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    await denied(desk, caplog, "rate_limit", **BUY, quantity="0.01")
    desk.advance(1001)
    desk.refresh_books()
    assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    desk.close()


async def test_balance(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(
        tmp_path,
        max_order_notional={"KRW": "1000000000"},
        max_position_notional={"KRW": "1000000000"},
        max_gross_exposure={"KRW": "1000000000"},
    )
    await denied(desk, caplog, "balance", **BUY, quantity="3")
    await denied(desk, caplog, "balance", instrument=BTC, side="sell", price="50000000",
                 quantity="0.01")  # fmt: skip
    desk.close()


async def test_stale_feed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path, stale_feed_s=1.0)
    desk.advance(2000)
    await denied(desk, caplog, "stale_feed", **BUY, quantity="0.01")
    desk.refresh_books()
    assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    desk.close()


async def test_kill_switch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make(tmp_path)
    assert (await desk.command("kill")).status == "accepted"
    await denied(desk, caplog, "kill_switch", **BUY, quantity="0.01")
    desk.close()


async def test_live_venue_needs_arming(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = open_desk(desk_settings(tmp_path), live_venues=frozenset({"SIM"}))
    await denied(desk, caplog, "not_armed", **BUY, quantity="0.01")
    armed = await desk.command("arm", venue="SIM")
    assert armed.status == "accepted" and armed.result["armed_venues"] == ["SIM"]
    assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    desk.close()


async def test_paper_venues_need_no_arming(tmp_path: Path) -> None:
    desk = make(tmp_path)
    reply = await desk.command("arm", venue="SIM")
    assert reply.status == "rejected" and "paper trading needs no arming" in reply.reason
    desk.close()


async def test_no_entry_while_the_feed_rebuilds_the_book(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The feed's own health is read at the moment of the check: an instrument in `resyncing`
    # (a sequence gap was seen; its book is being rebuilt) takes no order, nor does a down feed.
    from engine.venues.base import FeedHealth, FeedState

    desk = make(tmp_path)
    health = FeedHealth(venue="SIM", state=FeedState.LIVE)
    desk.oms.pre_trade.feed_holds.watch("SIM", health)
    health.resyncing.add(BTC)
    reason = await denied(desk, caplog, "stale_feed", **BUY, quantity="0.01")
    assert "rebuilt after a gap" in reason
    health.resyncing.clear()
    health.state = FeedState.DOWN
    await denied(desk, caplog, "stale_feed", **BUY, quantity="0.01")
    health.state = FeedState.LIVE
    assert (await desk.command("order.submit", **BUY, quantity="0.01")).status == "accepted"
    desk.close()
