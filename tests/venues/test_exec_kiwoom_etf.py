"""ETFs on their own tick grid (issue 11, finding 8), through the real Kiwoom adapter, live
exchange and OMS against Kiwoom's loopback protocol server, which lists one code as an ETF in its
stock info (``ka10100``): 5 won at ~40,000 won where a stock's tick is 50."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.clock import LiveClock
from engine.venues.kiwoom import KiwoomFeed, KiwoomOrderClient
from engine.venues.kiwoom.loopback import KiwoomLoopback
from tests.venues.exec_desk import Desk
from tests.venues.kiwoom.helpers import credentials, loopback

ETF = "035720.KRX"
"""Served as an ETF by the loopback (``segments``), whatever the simulator calls it."""
STOCK = "005930.KRX"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Desk, KiwoomLoopback]]:
    async with loopback(segments={"035720": "ETF"}, cash=500_000_000) as server:
        feed = KiwoomFeed(server.rest_url, server.ws_url, clock=LiveClock(),
                          backoff_initial_s=0.05, **credentials())  # type: ignore[arg-type]  # fmt: skip
        opened = Desk(feed, tmp_path / "journal.sqlite", {"KRW": "500000000"})
        keys = credentials()
        client = KiwoomOrderClient(
            server.rest_url, app_key=keys["app_key"], secret_key=keys["secret_key"], settle_s=0.2
        )
        await opened.open(["005930", "035720"], client)
        try:
            yield opened, server
        finally:
            await opened.close()


async def test_an_etf_takes_prices_on_its_5_won_grid_and_a_stock_does_not(
    desk: tuple[Desk, KiwoomLoopback],
) -> None:
    opened, server = desk
    etf = opened.state(ETF)
    assert etf.instrument.tick_table.tick_at(etf.best_bid) == 5
    assert etf.instrument.sell_tax is None  # ETFs pay no securities transaction tax
    stock = opened.state(STOCK)
    assert stock.instrument.tick_table.tick_at(stock.best_bid) == 100
    assert stock.instrument.sell_tax is not None

    price = etf.best_bid - 20 * 50 + 5  # on the ETF's grid, off the stock grid of this price
    coid = await opened.submit(instrument=ETF, side="buy", price=str(price), quantity="3")
    await opened.until(lambda: opened.order(coid).status.value == "accepted")
    number = opened.order(coid).venue_order_id or ""
    assert server.desk.orders[number].price == price  # the venue took it as sent

    off_grid = stock.best_bid - 20 * 100 + 50
    reply = await opened.command(
        "order.submit", instrument=STOCK, side="buy", price=str(off_grid), quantity="1"
    )
    assert reply.status == "rejected" and "tick" in (reply.reason or "")
