"""A tick dataset whose best trade is known by construction (for the optimizer's tests).

One instrument (``KRW-BTC.SIM``), one trade a second for 1,201 seconds, with a one-tick-wide
book around each trade. The trade price, in ticks of 1,000 KRW above 100,000,000, falls by one
tick per trade to trade 300 (-300), rises by two per trade to trade 700 (+500), then falls by one
per trade. With ``tests/strategies/timed_swing.py`` over its declared grid (``enter_after``
0..1000 by 100, ``hold`` 100..1000 by 100) the unique best total return is ``enter_after=300,
hold=400``: buy at the trough, sell at the peak (800 ticks, 0.8 %, far above two 0.05 % fees).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import TickWriter, day_start_ns

BASE = 100_000_000
TICK = 1_000
TRADES = 1_201
DAY = date(2026, 2, 2)
BEST = {"enter_after": 300, "hold": 400}


def price_ticks(number: int) -> int:
    if number <= 300:
        return -number
    if number <= 700:
        return -300 + 2 * (number - 300)
    return 500 - (number - 700)


def write_optimum_dataset(root: Path, trades: int = TRADES) -> Path:
    instrument = sim_instrument("KRW-BTC")
    start = day_start_ns(DAY) + 3_600 * 1_000_000_000
    writer = TickWriter(root, instrument, 0, session=start)
    size = 10 * 10**instrument.size_precision
    for number in range(trades):
        ts = start + number * 1_000_000_000
        price = BASE + TICK * price_ticks(number)
        writer.append(BOOK_CLEAR, BID, 0, 0, ts, ts)
        writer.append(BOOK_LEVEL, BID, price - TICK, size, ts, ts)
        writer.append(BOOK_LEVEL, ASK, price + TICK, size, ts, ts)
        writer.append(TRADE, BID, price, 1, ts, ts)
    writer.close()
    return root
