"""Protective exits: levels on the tick grid, long and short triggers, trailing, one signal each."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import OrderSide
from engine.domain.positions import Position
from engine.market_state import InstrumentState, MarketState
from engine.risk import ExitDefaults, ExitLevels, ExitSignal, ProtectiveExits
from engine.risk.protective_exits import exit_level
from engine.sim.catalog import sim_instrument

NS = 1_000_000_000
BTC = "KRW-BTC.SIM"
SAMSUNG = "005930.SIM"
TENTH = 10_000_000
"""0.1 BTC, raw."""


class Desk:
    """One instrument's market and position, and the exits watching them."""

    def __init__(self, symbol: str, defaults: ExitDefaults) -> None:
        self.market = MarketState()
        self.instrument: Instrument = sim_instrument(symbol)
        self.index = self.market.add(self.instrument)
        self.id = str(self.instrument.id)
        self.position = Position(self.id)
        self.exits = ProtectiveExits(defaults)
        self.ts = NS

    @property
    def state(self) -> InstrumentState:
        return self.market.at(self.index)

    def fill(self, side: OrderSide, price_raw: int, quantity_raw: int) -> None:
        self.position.apply_fill(side, price_raw, quantity_raw, 0)
        self.exits.on_position(self.id, self.position, self.instrument)

    def quote(self, bid: int = 0, ask: int = 0, last: int = 0) -> None:
        """Replace the book with one bid and one ask level (either may be absent)."""
        self.ts += NS
        batch = MarketBatch()
        batch.append(BOOK_CLEAR, self.index, 0, 0, 0, self.ts)
        if bid:
            batch.append(BOOK_LEVEL, self.index, BID, bid, 10**8, self.ts)
        if ask:
            batch.append(BOOK_LEVEL, self.index, ASK, ask, 10**8, self.ts)
        if last:
            batch.append(TRADE, self.index, ASK, last, 1, self.ts)
        self.market.apply(batch)

    def check(self, bid: int = 0, ask: int = 0, last: int = 0) -> ExitSignal | None:
        self.quote(bid, ask, last)
        return self.exits.check(self.id, self.position, self.state)


def defaults(stop: str = "0", take: str = "0", trail: str = "0") -> ExitDefaults:
    return ExitDefaults(
        stop_loss_pct=Decimal(stop), take_profit_pct=Decimal(take), trailing_stop_pct=Decimal(trail)
    )


# --- levels ---------------------------------------------------------------------------------


def test_a_new_long_gets_the_default_levels_from_its_entry() -> None:
    desk = Desk("KRW-BTC", defaults("1", "2", "1"))
    assert desk.exits.levels(BTC) is None
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.exits.levels(BTC) == ExitLevels(99_000_000, 102_000_000, 99_000_000, Decimal(1))
    assert list(desk.exits.instruments()) == [BTC]


def test_levels_from_an_off_grid_average_round_toward_the_entry() -> None:
    long = Desk("KRW-BTC", defaults("1", "2", "1"))
    long.position.apply_fill(OrderSide.BUY, 100_000_000, TENTH, 0)
    long.position.apply_fill(OrderSide.BUY, 100_001_000, TENTH, 0)  # average 100,000,500
    long.exits.on_position(BTC, long.position, long.instrument)
    # 99,000,495 rounds up; 102,000,510 rounds down (tick 1,000).
    assert long.exits.levels(BTC) == ExitLevels(99_001_000, 102_000_000, 99_001_000, Decimal(1))

    short = Desk("KRW-BTC", defaults("1", "2", "1"))
    short.position.apply_fill(OrderSide.SELL, 100_000_000, TENTH, 0)
    short.position.apply_fill(OrderSide.SELL, 100_001_000, TENTH, 0)
    short.exits.on_position(BTC, short.position, short.instrument)
    # 101,000,505 rounds down; 98,000,490 rounds up.
    assert short.exits.levels(BTC) == ExitLevels(101_000_000, 98_001_000, 101_000_000, Decimal(1))


def test_levels_cross_krx_price_bands_onto_their_own_ticks() -> None:
    desk = Desk("005930", defaults("3", "1"))
    desk.fill(OrderSide.BUY, 50_300, 10)
    # Stop 48,791 is below 50,000 (tick 50): 48,800. Target 50,803 is above (tick 100): 50,800.
    assert desk.exits.levels(SAMSUNG) == ExitLevels(48_800, 50_800, None, None)


def test_a_tiny_percentage_still_keeps_the_exit_one_tick_from_the_entry() -> None:
    desk = Desk("KRW-BTC", defaults("0.0001", "0.0001"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.exits.levels(BTC) == ExitLevels(99_999_000, 100_001_000, None, None)


TABLES = {
    "krx": sim_instrument("005930").tick_table,
    "upbit": sim_instrument("KRW-BTC").tick_table,
}


@given(
    table_name=st.sampled_from(sorted(TABLES)),
    cost=st.integers(min_value=1_000, max_value=10**12),
    quantity=st.integers(min_value=1, max_value=50),
    pct=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(50), places=3),
    above=st.booleans(),
)
def test_exit_levels_are_the_nearest_grid_price_on_the_exit_side(
    table_name: str, cost: int, quantity: int, pct: Decimal, above: bool
) -> None:
    table = TABLES[table_name]
    reference = Fraction(cost, quantity)
    if reference < 2 * table.min_price_raw:
        return
    level = exit_level(table, reference, Fraction(pct), above=above)
    target = reference * (1 + Fraction(pct) / 100 * (1 if above else -1))
    assert table.is_on_grid(level)
    if above:
        assert level > reference
        # The largest grid price <= target, unless that is not beyond the reference.
        nearest = level <= target and table.step_up(level) > target
        clamped = level > target and table.step_down(level) <= reference
    else:
        assert level < reference
        nearest = level >= target and table.step_down(level) < target
        clamped = level < target and table.step_up(level) >= reference
    assert nearest or clamped


# --- long -----------------------------------------------------------------------------------


def test_long_stop_loss_signals_once_until_cleared_or_the_position_changes() -> None:
    desk = Desk("KRW-BTC", defaults("1"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check(bid=99_001_000, ask=99_002_000) is None
    signal = desk.check(bid=98_999_000, ask=99_000_000)
    assert signal is not None
    assert (signal.instrument_id, signal.side, signal.quantity_raw, signal.kind) == (
        BTC,
        OrderSide.SELL,
        TENTH,
        "stop_loss",
    )
    assert signal.reason == "stop-loss at 99,000,000 hit (bid 98,999,000)"
    assert desk.check(bid=98_000_000, ask=98_001_000) is None  # no duplicate
    desk.exits.clear(BTC)  # the exit order failed: let it fire again
    assert desk.check(bid=98_000_000, ask=98_001_000) is not None
    assert desk.check(bid=98_000_000, ask=98_001_000) is None
    desk.fill(OrderSide.SELL, 98_000_000, 4_000_000)  # partly out: the rest may signal again
    again = desk.check(bid=98_000_000, ask=98_001_000)
    assert again is not None
    assert again.quantity_raw == 6_000_000


def test_long_take_profit_at_the_bid() -> None:
    desk = Desk("KRW-BTC", defaults("1", "2"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check(bid=101_999_000, ask=102_000_000) is None  # the ask is not what we get
    signal = desk.check(bid=102_000_000, ask=102_001_000)
    assert signal is not None
    assert (signal.kind, signal.side) == ("take_profit", OrderSide.SELL)
    assert signal.reason == "take-profit at 102,000,000 hit (bid 102,000,000)"


def test_long_uses_the_last_trade_when_there_are_no_bids() -> None:
    desk = Desk("KRW-BTC", defaults("1"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check() is None  # no market at all: nothing to judge
    signal = desk.check(ask=99_500_000, last=98_500_000)
    assert signal is not None
    assert signal.reason == "stop-loss at 99,000,000 hit (last 98,500,000)"


def test_long_trailing_stop_only_moves_up() -> None:
    desk = Desk("KRW-BTC", defaults(trail="1"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.exits.levels(BTC).trailing_stop_raw == 99_000_000  # type: ignore[union-attr]
    # The first bid seen is below the entry: 1% under it would lower the level; it stays.
    assert desk.check(bid=99_500_000, ask=99_501_000) is None
    assert desk.exits.levels(BTC).trailing_stop_raw == 99_000_000  # type: ignore[union-attr]
    assert desk.check(bid=102_000_000, ask=102_001_000) is None
    assert desk.exits.levels(BTC).trailing_stop_raw == 100_980_000  # type: ignore[union-attr]
    for bid in (101_500_000, 101_800_000, 100_981_000):
        assert desk.check(bid=bid, ask=bid + 1_000) is None
        assert desk.exits.levels(BTC).trailing_stop_raw == 100_980_000  # type: ignore[union-attr]
    signal = desk.check(bid=100_980_000, ask=100_981_000)
    assert signal is not None
    assert (signal.kind, signal.side, signal.quantity_raw) == (
        "trailing_stop",
        OrderSide.SELL,
        TENTH,
    )
    assert signal.reason == (
        "trailing stop at 100,980,000 hit (bid 100,980,000; best since entry 102,000,000)"
    )


# --- short ----------------------------------------------------------------------------------


def test_short_stop_loss_and_take_profit_at_the_ask() -> None:
    desk = Desk("KRW-BTC", defaults("1", "2"))
    desk.fill(OrderSide.SELL, 100_000_000, TENTH)
    assert desk.exits.levels(BTC) == ExitLevels(101_000_000, 98_000_000, None, None)
    assert desk.check(bid=100_998_000, ask=100_999_000) is None
    signal = desk.check(bid=100_999_000, ask=101_000_000)
    assert signal is not None
    assert (signal.kind, signal.side, signal.quantity_raw) == ("stop_loss", OrderSide.BUY, TENTH)
    assert signal.reason == "stop-loss at 101,000,000 hit (ask 101,000,000)"

    target = Desk("KRW-BTC", defaults("1", "2"))
    target.fill(OrderSide.SELL, 100_000_000, TENTH)
    signal = target.check(bid=97_999_000, ask=98_000_000)
    assert signal is not None
    assert (signal.kind, signal.reason) == (
        "take_profit",
        "take-profit at 98,000,000 hit (ask 98,000,000)",
    )


def test_short_trailing_stop_only_moves_down() -> None:
    desk = Desk("KRW-BTC", defaults(trail="1"))
    desk.fill(OrderSide.SELL, 100_000_000, TENTH)
    assert desk.exits.levels(BTC).trailing_stop_raw == 101_000_000  # type: ignore[union-attr]
    assert desk.check(bid=100_499_000, ask=100_500_000) is None
    assert desk.exits.levels(BTC).trailing_stop_raw == 101_000_000  # type: ignore[union-attr]
    assert desk.check(bid=96_999_000, ask=97_000_000) is None
    assert desk.exits.levels(BTC).trailing_stop_raw == 97_970_000  # type: ignore[union-attr]
    for ask in (97_500_000, 97_969_000):
        assert desk.check(bid=ask - 1_000, ask=ask) is None
        assert desk.exits.levels(BTC).trailing_stop_raw == 97_970_000  # type: ignore[union-attr]
    signal = desk.check(bid=97_969_000, ask=97_970_000)
    assert signal is not None
    assert (signal.kind, signal.side) == ("trailing_stop", OrderSide.BUY)
    assert (
        signal.reason
        == "trailing stop at 97,970,000 hit (ask 97,970,000; best since entry 97,000,000)"
    )


# --- following the position -----------------------------------------------------------------


def test_adding_keeps_levels_flat_clears_them_and_a_reversal_starts_over() -> None:
    desk = Desk("KRW-BTC", defaults("1", "2"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    desk.fill(OrderSide.BUY, 110_000_000, TENTH)
    assert desk.exits.levels(BTC) == ExitLevels(99_000_000, 102_000_000, None, None)
    desk.fill(OrderSide.SELL, 105_000_000, 2 * TENTH)
    assert desk.exits.levels(BTC) is None
    assert list(desk.exits.instruments()) == []
    assert desk.check(bid=1_000_000, ask=1_001_000) is None
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    desk.fill(OrderSide.SELL, 90_000_000, 3 * TENTH)  # long 0.1 to short 0.2 at 90,000,000
    assert desk.exits.levels(BTC) == ExitLevels(90_900_000, 88_200_000, None, None)


def test_set_replaces_the_levels_and_checks_them() -> None:
    desk = Desk("KRW-BTC", defaults("1", "5", "1"))
    with pytest.raises(ValueError, match=r"no open position on KRW-BTC\.SIM"):
        desk.exits.set(BTC, stop_loss_raw=95_000_000, take_profit_raw=None, trailing_pct=None)
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check(bid=103_000_000, ask=103_001_000) is None  # best since entry 103,000,000
    desk.exits.set(BTC, stop_loss_raw=95_000_000, take_profit_raw=None, trailing_pct=Decimal(2))
    assert desk.exits.levels(BTC) == ExitLevels(95_000_000, None, 100_940_000, Decimal(2))
    desk.exits.set(BTC, stop_loss_raw=None, take_profit_raw=None, trailing_pct=Decimal(0))
    assert desk.exits.levels(BTC) is None
    with pytest.raises(
        ValueError,
        match=r"stop-loss price 95,000,500 on KRW-BTC\.SIM is off the tick grid \(tick 1,000",
    ):
        desk.exits.set(BTC, stop_loss_raw=95_000_500, take_profit_raw=None, trailing_pct=None)
    with pytest.raises(ValueError, match="trailing stop 100%"):
        desk.exits.set(BTC, stop_loss_raw=None, take_profit_raw=None, trailing_pct=Decimal(100))


def test_set_after_a_signal_lets_the_new_level_fire() -> None:
    desk = Desk("KRW-BTC", defaults("1"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check(bid=98_000_000, ask=98_001_000) is not None
    desk.exits.set(BTC, stop_loss_raw=97_000_000, take_profit_raw=None, trailing_pct=None)
    assert desk.check(bid=98_000_000, ask=98_001_000) is None
    assert desk.check(bid=96_999_000, ask=97_000_000) is not None


def test_round_trip_through_the_journal_keeps_levels_best_price_and_signal() -> None:
    desk = Desk("KRW-BTC", defaults("1", "5", "1"))
    desk.fill(OrderSide.BUY, 100_000_000, TENTH)
    assert desk.check(bid=102_000_000, ask=102_001_000) is None
    saved = json.loads(json.dumps(desk.exits.to_dict()))
    restored = ProtectiveExits.from_dict(saved, {BTC: desk.instrument}, desk.exits.defaults)
    assert restored.to_dict() == desk.exits.to_dict()
    assert restored.levels(BTC) == ExitLevels(99_000_000, 105_000_000, 100_980_000, Decimal(1))
    assert desk.check(bid=100_000_000, ask=100_001_000) is not None
    signalled = ProtectiveExits.from_dict(desk.exits.to_dict(), {BTC: desk.instrument})
    assert signalled.check(BTC, desk.position, desk.state) is None  # still signalled
    dropped = ProtectiveExits.from_dict(saved, {SAMSUNG: sim_instrument("005930")})
    assert list(dropped.instruments()) == []
