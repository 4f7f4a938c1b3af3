"""The marks at which a periodic risk check may be put off (``engine.oms.check_bands``).

For positions long and short, in one instrument or beside a second one in the same currency at
another scale, with the day's start, peak and limits anywhere around the equity: at every mark
inside an instrument's band, the check (``PostTradeRisk.update_raw`` on the equity the OMS sums
at that mark) changes nothing but the latest equity; just outside each finite edge, it changes
something more (a new peak, a limit passed) unless a limit was passed earlier that day. So the
band is exact: not a mark too many, which would put off a check that matters, nor one too few.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine.config.settings import RiskSettings
from engine.domain.fixed_point import from_raw
from engine.domain.orders import OrderSide
from engine.domain.positions import Position
from engine.market_state import MarketState
from engine.oms.check_bands import mark_bands
from engine.oms.oms import Oms
from engine.risk.limits import RiskLimits
from engine.risk.post_trade import PostTradeRisk
from engine.risk.state import RiskState
from engine.sim.catalog import sim_instrument

BTC, STOCK = "KRW-BTC.SIM", "005930.SIM"  # (both in KRW, at different scales)
NOW = 1_767_571_200_000_000_000


def equity_at(oms: Any, marked: dict[int, int] | None = None) -> dict[str, tuple[int, int]]:
    """What the OMS sums at a check (Oms._equity_raw itself, on these positions and books)."""
    return Oms._equity_raw(oms, {}, marked)


def outcome(post_trade: PostTradeRisk, equity: dict[str, tuple[int, int]]) -> tuple[Any, ...]:
    """A check on a copy: the trip, and everything of the risk state but the latest equity."""
    limits = post_trade.limits  # (shared: it is not changed, and it holds mapping proxies)
    risk = copy.deepcopy(post_trade, {id(limits): limits})
    trip = risk.update_raw(NOW + 5, equity)
    state = risk.state.to_dict()
    state.pop("equity")
    return trip, state


@settings(max_examples=300, deadline=None)
@given(
    quantity=st.integers(-5_000, 5_000).filter(bool),
    entry=st.integers(1_000, 200_000),
    mark=st.integers(1_000, 200_000),
    realized=st.integers(-(10**9), 10**9),
    history=st.lists(st.integers(-(10**10), 10**10), min_size=1, max_size=4),
    loss=st.none() | st.integers(1, 10**12),
    drawdown=st.none() | st.integers(1, 10**12),
    other=st.none() | st.tuples(st.integers(-300, 300).filter(bool), st.integers(100, 9_000)),
)
def test_a_band_holds_exactly_the_marks_where_a_check_changes_only_the_latest_equity(
    quantity: int,
    entry: int,
    mark: int,
    realized: int,
    history: list[int],
    loss: int | None,
    drawdown: int | None,
    other: tuple[int, int] | None,
) -> None:
    market = MarketState(track_bars=False)
    btc = market.add(sim_instrument("KRW-BTC"))
    stock = market.add(sim_instrument("005930"))
    positions = {BTC: Position(BTC)}
    side = OrderSide.BUY if quantity > 0 else OrderSide.SELL
    positions[BTC].apply_fill(side, entry, abs(quantity), 0)
    positions[BTC].realized_raw += realized
    market.at(btc).last_price = mark  # (no book: the mark is the last price)
    if other is not None:
        size, price = other
        positions[STOCK] = Position(STOCK)
        positions[STOCK].apply_fill(OrderSide.BUY if size > 0 else OrderSide.SELL, price,
                                  abs(size), 0)  # fmt: skip
        market.at(stock).last_price = price
    oms = SimpleNamespace(positions=positions, market=market)
    scale = equity_at(oms)["KRW"][1]
    limits = RiskLimits.from_settings(
        RiskSettings(
            daily_loss_limit={} if loss is None else {"KRW": str(from_raw(loss, scale))},
            max_drawdown={} if drawdown is None else {"KRW": str(from_raw(drawdown, scale))},
        )
    )
    post_trade = PostTradeRisk(limits, RiskState())
    for n, value in enumerate(history):  # the day so far: its start and peak
        post_trade.update_raw(NOW + n, {"KRW": (value, scale)})
    equity = equity_at(oms)
    if post_trade.update_raw(NOW + 4, equity) is not None:
        event("the check trips")
        return  # this check trips the kill switch: no band after it
    marks: dict[int, int] = {}
    equity = Oms._equity_raw(oms, marks)
    bands = mark_bands(NOW + 4, positions, market, equity, marks, post_trade)
    unchanged = outcome(post_trade, equity)
    if not bands:
        event("no band")
    for index, (bottom, top) in bands.items():
        held = marks[index]
        long = positions[str(market.at(index).instrument.id)].quantity_raw > 0
        event(f"{'long' if long else 'short'}"
              f"{' beside another instrument' if len(marks) > 1 else ''}, "
              f"bottom {'1' if bottom == 1 else 'above 1'}")  # fmt: skip
        assert bottom <= held <= top
        for inside in {bottom, top, held, (bottom + top) // 2}:
            assert outcome(post_trade, equity_at(oms, {index: inside})) == unchanged, inside
        if post_trade.state.breached:
            continue  # (past a limit already passed, the band stops short of marks that matter)
        for outside in ({bottom - 1} if bottom > 1 else set()) | {top + 1}:
            moved = equity_at(oms, {index: outside})
            if abs(moved["KRW"][0]) < 10**28 - 1:  # (the band stops at 28 digits: headroom)
                assert outcome(post_trade, moved) != unchanged, outside
