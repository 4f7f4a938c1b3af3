"""Market state on the hot path: books, best prices, trades, bars."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from engine.bars import NS_PER_S, BarSeries
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.tick_table import KRX_STOCK_BANDS, TickTable
from engine.market_state import MarketState


def stock(symbol: str = "005930") -> Instrument:
    return Instrument(
        id=InstrumentId.of(symbol, "SIM"),
        name="Samsung Electronics",
        kind="stock",
        base_currency=symbol,
        quote_currency="KRW",
        price_precision=0,
        size_precision=0,
        tick_table=TickTable.from_decimal(KRX_STOCK_BANDS, 0),
        lot_size_raw=1,
        min_notional=Decimal(1),
        maker_fee=Decimal("0.00015"),
        taker_fee=Decimal("0.00015"),
    )


def test_best_prices_follow_adds_and_removals() -> None:
    market = MarketState()
    i = market.add(stock())
    batch = MarketBatch()
    for price, size in ((70000, 5), (69900, 7), (69800, 9)):
        batch.append(BOOK_LEVEL, i, BID, price, size, 1)
    for price, size in ((70100, 4), (70200, 6)):
        batch.append(BOOK_LEVEL, i, ASK, price, size, 2)
    market.apply(batch)
    state = market.at(i)
    assert (state.best_bid, state.best_ask) == (70000, 70100)
    batch.clear()
    batch.append(BOOK_LEVEL, i, BID, 70000, 0, 3)  # touch removed: next level becomes best
    batch.append(BOOK_LEVEL, i, ASK, 70100, 0, 3)
    batch.append(BOOK_LEVEL, i, ASK, 70050, 0, 3)  # removing an absent level changes nothing
    market.apply(batch)
    assert (state.best_bid, state.best_ask) == (69900, 70200)
    assert state.top_bids(2) == [(69900, 7), (69800, 9)]
    assert state.top_asks(5) == [(70200, 6)]
    assert state.ts_event == 3
    batch.clear()
    batch.append(BOOK_CLEAR, i, 0, 0, 0, 4)
    market.apply(batch)
    assert (state.best_bid, state.best_ask, state.bids, state.asks) == (0, 0, {}, {})


@given(
    st.lists(
        st.tuples(st.sampled_from([BID, ASK]), st.integers(1, 40), st.integers(0, 3)), max_size=300
    )
)
def test_best_prices_match_a_full_scan(events: list[tuple[int, int, int]]) -> None:
    market = MarketState()
    i = market.add(stock())
    batch = MarketBatch()
    for side, level, size in events:
        batch.append(BOOK_LEVEL, i, side, 50000 + 100 * level, size, 0)
    market.apply(batch)
    state = market.at(i)
    assert state.best_bid == (max(state.bids) if state.bids else 0)
    assert state.best_ask == (min(state.asks) if state.asks else 0)
    assert all(size > 0 for size in (*state.bids.values(), *state.asks.values()))


def test_trades_update_last_volume_turnover_and_ring() -> None:
    market = MarketState(trade_ring=4)
    i = market.add(stock())
    batch = MarketBatch()
    for n in range(6):
        batch.append(TRADE, i, n % 2, 70000 + 100 * n, n + 1, 10 + n)
    market.apply(batch)
    state = market.at(i)
    assert state.last_price == 70500
    assert state.volume == 21
    assert state.turnover == sum((70000 + 100 * n) * (n + 1) for n in range(6))
    rows, skipped = state.trades_since(0)
    assert skipped == 2  # the ring holds 4
    assert [r[1] for r in rows] == [70200, 70300, 70400, 70500]
    rows, skipped = state.trades_since(5)
    assert (rows, skipped) == ([(15, 70500, 6, 1)], 0)


def test_bars_roll_on_interval_and_on_time() -> None:
    series = BarSeries("1s", history=3)
    base = 1_700_000_000 * NS_PER_S
    series.on_trade(base + 10, 100, 1)
    series.on_trade(base + 20, 105, 2)
    series.on_trade(base + 30, 95, 1)
    series.on_trade(base + NS_PER_S + 5, 101, 4)  # next second closes the first bar
    closed = series.take_closed()
    assert len(closed) == 1
    bar = closed[0]
    assert (bar.ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades) == (
        base,
        100,
        105,
        95,
        95,
        4,
        3,
    )
    series.close_until(base + 2 * NS_PER_S - 1)
    assert series.current is not None  # its interval has not ended yet
    series.close_until(base + 2 * NS_PER_S)
    assert series.current is None and series.take_closed()[0].close == 101
    for n in range(5):
        series.on_trade(base + (10 + n) * NS_PER_S, 1, 1)
    series.close_until(base + 100 * NS_PER_S)
    assert len(series.history) == 3  # bounded


def test_a_trade_late_for_a_bar_time_closed_opens_the_next_bar() -> None:
    """A trade whose venue time falls in a 1 s interval the clock already closed (it arrived
    after close_until passed the interval's end) counts in the next bar: no two bars share an
    interval (md.history returned the closed bar and a second one for the same second)."""
    series = BarSeries("1s", 10)
    second = 1_000_000_000
    series.on_trade(second // 2, 100, 1)
    series.close_until(second + second // 5)  # time passed the bar's end: it closes
    series.on_trade(second - 1, 101, 2)  # late: its venue time is in the closed second
    series.on_trade(second + second // 2, 102, 3)
    series.close_until(3 * second)
    opens = [bar.ts_open for bar in series.history]
    assert opens == [0, second]
    assert [bar.volume for bar in series.history] == [1, 5]
    assert [(bar.open, bar.close) for bar in series.history] == [(100, 100), (101, 102)]
