"""The lean event path's shortcuts give what the general code gives.

- :meth:`MarketState.apply`'s one-event fast path leaves the same state as the general loop;
- :attr:`ProtectiveExits.armed` holds exactly the positions with an exit level (the only ones
  the OMS's periodic check looks at);
- :meth:`Oms.equity_by_currency`, now summed in integers, equals the sum of decimals it was.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.fixed_point import from_raw
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.positions import Position
from engine.market_state import InstrumentState, MarketState
from engine.oms.oms import Oms
from engine.risk import ExitDefaults, ProtectiveExits
from engine.sim.catalog import sim_instrument

EVENT = st.tuples(
    st.sampled_from((BOOK_LEVEL, BOOK_LEVEL, BOOK_LEVEL, TRADE, TRADE, BOOK_CLEAR)),
    st.integers(0, 1),  # instrument
    st.sampled_from((BID, ASK)),
    st.integers(1, 12).map(lambda tick: 100_000 + 1_000 * tick),
    st.sampled_from((0, 0, 1, 5, 30)),
)


def _state(state: InstrumentState) -> tuple[object, ...]:
    return (
        state.bids,
        state.asks,
        state.best_bid,
        state.best_ask,
        state.book_seq,
        state.last_price,
        state.last_trade_ns,
        state.volume,
        state.turnover,
        state.trade_count,
        state.ring_ts,
        state.ring_price,
        state.ring_size,
        state.ring_side,
        state.ts_event,
        state.ts_recv,
        list(state.bar_1s.history),
        state.bar_1s.current,
        list(state.bar_1m.history),
        state.bar_1m.current,
    )


def _market() -> MarketState:
    market = MarketState(trade_ring=8)
    for symbol in ("KRW-BTC", "KRW-ETH", "KRW-XRP"):
        market.add(sim_instrument(symbol))
    return market


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENT, max_size=60))
def test_one_event_batches_leave_the_state_the_general_loop_leaves(
    events: list[tuple[int, int, int, int, int]],
) -> None:
    one, general = _market(), _market()
    single, pair = MarketBatch(), MarketBatch()
    for number, (kind, index, side, price, size) in enumerate(events):
        ts = 1_000_000_000 * (number + 1)
        single.clear()
        single.append(kind, index, side, price, size, ts)
        assert one.apply(single) == 1
        # The general loop: the same event, with a trade on a third instrument after it so the
        # batch holds two (the third is not compared).
        pair.clear()
        pair.append(kind, index, side, price, size, ts)
        pair.append(TRADE, 2, ASK, 3_000, 1, ts)
        assert general.apply(pair) == 2
        for position in (0, 1):
            assert _state(one.at(position)) == _state(general.at(position)), (number, position)
    assert one.events_total == len(events)
    assert one.last_event_ns == general.last_event_ns


def _position(quantity: int, price: int) -> Position:
    position = Position("KRW-BTC.SIM")
    position.quantity_raw = quantity
    position.cost_raw = quantity * price
    return position


def test_armed_holds_exactly_the_positions_with_an_exit_level() -> None:
    instrument = sim_instrument("KRW-BTC")
    iid = str(instrument.id)
    bare = ProtectiveExits(ExitDefaults())
    bare.on_position(iid, _position(10, 100_000_000), instrument)
    assert bare.armed == set()  # a record without levels: nothing to check
    bare.set(iid, stop_loss_raw=99_000_000, take_profit_raw=None, trailing_pct=None)
    assert bare.armed == {iid}
    bare.set(iid, stop_loss_raw=None, take_profit_raw=None, trailing_pct=Decimal("0.5"))
    assert bare.armed == {iid}  # a trailing stop alone arms it
    bare.set(iid, stop_loss_raw=None, take_profit_raw=None, trailing_pct=None)
    assert bare.armed == set()
    exits = ProtectiveExits(ExitDefaults(stop_loss_pct=Decimal("1")))
    exits.on_position(iid, _position(10, 100_000_000), instrument)
    assert exits.armed == {iid}
    restored = ProtectiveExits.from_dict(exits.to_dict(), {iid: instrument})
    assert restored.armed == {iid}
    exits.on_position(iid, _position(0, 0), instrument)  # flat: the exits go
    assert exits.armed == set()


RAW = st.integers(-(10**15), 10**15)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),  # price precision
            st.integers(0, 9),  # size precision
            st.sampled_from(("KRW", "USDT")),
            st.integers(-(10**9), 10**9),  # quantity
            st.integers(1, 10**9),  # entry price
            st.integers(0, 10**9),  # bid (0: none)
            RAW,  # realized
            st.integers(0, 10**12),  # fees
        ),
        max_size=4,
    )
)
def test_equity_in_integers_is_the_sum_of_decimals_it_replaced(rows: list[Any]) -> None:
    positions: dict[str, Position] = {}
    states: dict[str, Any] = {}
    expected: dict[str, Decimal] = {}
    for n, (pp, sp, currency, quantity, entry, bid, realized, fees) in enumerate(rows):
        iid = f"I{n}.SIM"
        instrument = SimpleNamespace(price_precision=pp, size_precision=sp, quote_currency=currency)
        state = SimpleNamespace(
            instrument=instrument, best_bid=bid, best_ask=bid + 1 if bid else 0, last_price=entry
        )
        position = _position(quantity, entry)
        position.instrument_id = iid
        position.realized_raw, position.fees_raw = realized, fees
        positions[iid], states[iid] = position, state
        raw = realized - fees + position.unrealized_raw(Oms.mark_price(state))  # type: ignore[arg-type]
        with localcontext() as exact:  # the old chain of Decimal sums, without its rounding
            exact.prec = 200
            expected[currency] = expected.get(currency, Decimal(0)) + from_raw(raw, pp + sp)
    oms = Oms.__new__(Oms)  # only what equity reads: its positions and the market
    oms.positions = positions
    oms.market = SimpleNamespace(get=states.get)  # type: ignore[assignment]
    got = oms.equity_by_currency()
    assert list(got) == list(expected)
    for currency, value in expected.items():
        # Integers are exact; the one rounding is the context's at the end (a chain of Decimal
        # sums rounded at every step, which differs only past 28 significant digits).
        assert got[currency].as_tuple() == (Decimal(0) + value).as_tuple()
