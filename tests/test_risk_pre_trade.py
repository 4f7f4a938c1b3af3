"""Pre-trade risk: each rule denies with its name and the numbers; good and reducing orders pass.

Real objects throughout: simulator instruments, a MarketState fed MarketBatch events, Orders and
Positions built from their events, and a small RiskView over them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config.settings import RiskSettings
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import (
    Order,
    OrderAccepted,
    OrderSide,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.domain.positions import Position
from engine.market_state import InstrumentState, MarketState
from engine.risk import RULES, Denial, PreTradeRisk, RiskLimits, RiskState, gross_exposure
from engine.sim.catalog import sim_instrument

NS = 1_000_000_000
NOW = 1_767_225_600 * NS  # 2026-01-01 00:00 UTC
BTC = "KRW-BTC.SIM"
SAMSUNG = "005930.SIM"
BTC_UNIT = 100_000_000
"""Raw size of one BTC (size precision 8)."""


class View:
    """The OMS's state as risk reads it, built from real market state, positions and orders."""

    def __init__(self, market: MarketState) -> None:
        self.market_state = market
        self.held: dict[str, Position] = {}
        self.orders: list[Order] = []
        self.balances: dict[str, Decimal] = {"KRW": Decimal(100_000_000)}

    def instrument(self, instrument_id: str) -> Instrument | None:
        state = self.market_state.get(InstrumentId(instrument_id))
        return None if state is None else state.instrument

    def market(self, instrument_id: str) -> InstrumentState | None:
        return self.market_state.get(InstrumentId(instrument_id))

    def position(self, instrument_id: str) -> Position | None:
        return self.held.get(instrument_id)

    def positions(self) -> Iterable[Position]:
        return self.held.values()

    def open_orders(self) -> Iterable[Order]:
        return [order for order in self.orders if order.is_open]

    def free_balance(self, currency: str) -> Decimal:
        return self.balances.get(currency, Decimal(0))

    # --- building the state -----------------------------------------------------------------

    def fill(self, instrument_id: str, side: OrderSide, price_raw: int, quantity_raw: int) -> None:
        position = self.held.setdefault(instrument_id, Position(instrument_id))
        position.apply_fill(side, price_raw, quantity_raw, 0, NOW)

    def rest(self, order: OrderSubmitted) -> Order:
        resting = Order(order)
        resting.apply(
            OrderAccepted(ts=order.ts, client_order_id=order.client_order_id, venue_order_id="V1")
        )
        self.orders.append(resting)
        return resting


def quote(
    market: MarketState,
    instrument_id: str,
    *,
    bid: int = 0,
    ask: int = 0,
    last: int = 0,
    ts: int = NOW - NS // 10,
) -> None:
    """Put a bid, an ask and a last trade (any of them) on the instrument's market."""
    index = market.index_of(InstrumentId(instrument_id))
    batch = MarketBatch()
    if bid:
        batch.append(BOOK_LEVEL, index, BID, bid, 10 * BTC_UNIT, ts)
    if ask:
        batch.append(BOOK_LEVEL, index, ASK, ask, 10 * BTC_UNIT, ts)
    if last:
        batch.append(TRADE, index, BID, last, 1, ts)
    market.apply(batch)


def make_view(*instruments: Instrument) -> View:
    """BTC at 99,999,000 / 100,000,000 (last 100,000,000) and Samsung at 69,900 / 70,000."""
    market = MarketState()
    for instrument in instruments or (sim_instrument("KRW-BTC"), sim_instrument("005930")):
        market.add(instrument)
    view = View(market)
    if market.get(InstrumentId(BTC)) is not None:
        quote(market, BTC, bid=99_999_000, ask=100_000_000, last=100_000_000)
    if market.get(InstrumentId(SAMSUNG)) is not None:
        quote(market, SAMSUNG, bid=69_900, ask=70_000, last=70_000)
    return view


def limits(**overrides: object) -> RiskLimits:
    return RiskLimits.from_settings(RiskSettings(**overrides))  # type: ignore[arg-type]


def risk(
    *, allow_short: bool = False, live: frozenset[str] = frozenset(), **overrides: object
) -> PreTradeRisk:
    return PreTradeRisk(limits(**overrides), RiskState(), allow_short=allow_short, live_venues=live)


_ids = iter(range(1, 1_000_000))


def order(
    side: OrderSide = OrderSide.BUY,
    quantity_raw: int = BTC_UNIT // 100,
    price_raw: int = 100_000_000,
    *,
    instrument_id: str = BTC,
    order_type: OrderType = OrderType.LIMIT,
) -> OrderSubmitted:
    """A 0.01 BTC limit buy at 100,000,000 unless told otherwise."""
    return OrderSubmitted(
        ts=NOW,
        client_order_id=f"c{next(_ids)}",
        instrument_id=instrument_id,
        side=side,
        order_type=order_type,
        time_in_force=TimeInForce.GTC if order_type is OrderType.LIMIT else TimeInForce.IOC,
        quantity_raw=quantity_raw,
        price_raw=price_raw if order_type is OrderType.LIMIT else 0,
    )


def market_order(side: OrderSide, quantity_raw: int, instrument_id: str = BTC) -> OrderSubmitted:
    return order(side, quantity_raw, instrument_id=instrument_id, order_type=OrderType.MARKET)


def denied(denial: Denial | None, rule: str) -> str:
    """The reason, after checking the order was denied by ``rule``."""
    assert denial is not None, f"expected a {rule} denial, the order passed"
    assert denial.rule == rule, denial
    assert denial.rule in RULES
    return denial.reason


# --- orders that pass -----------------------------------------------------------------------


def test_ordinary_orders_pass() -> None:
    view = make_view()
    view.fill(BTC, OrderSide.BUY, 100_000_000, BTC_UNIT // 10)
    view.balances["BTC"] = Decimal("0.1")
    pre = risk()
    assert pre.check(order(), view, NOW) is None
    assert pre.check(market_order(OrderSide.BUY, BTC_UNIT // 100), view, NOW) is None
    assert pre.check(order(OrderSide.SELL, BTC_UNIT // 10, 100_100_000), view, NOW) is None
    assert (
        pre.check(order(quantity_raw=10, price_raw=70_000, instrument_id=SAMSUNG), view, NOW)
        is None
    )
    assert pre.rate.count(NOW) == 4


def test_is_entry_is_false_only_for_orders_that_reduce_a_position() -> None:
    view = make_view()
    pre = risk()
    assert pre.is_entry(order(OrderSide.SELL, 1), view)  # flat: any order opens
    view.fill(BTC, OrderSide.BUY, 100_000_000, 5_000)
    assert not pre.is_entry(order(OrderSide.SELL, 5_000), view)
    assert pre.is_entry(order(OrderSide.SELL, 5_001), view)  # would reverse into a short
    assert pre.is_entry(order(OrderSide.BUY, 1), view)
    view.fill(BTC, OrderSide.SELL, 100_000_000, 8_000)  # now short 3,000
    assert not pre.is_entry(order(OrderSide.BUY, 3_000), view)
    assert pre.is_entry(order(OrderSide.BUY, 3_001), view)
    assert pre.is_entry(order(OrderSide.SELL, 1), view)


# --- one test per rule, in check order ------------------------------------------------------


def test_kill_switch_denies_entries_but_lets_reducing_orders_out() -> None:
    view = make_view()
    view.fill(BTC, OrderSide.BUY, 100_000_000, BTC_UNIT // 10)
    view.balances["BTC"] = Decimal("0.1")
    pre = risk()
    pre.state.trip("daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW")
    reason = denied(pre.check(order(), view, NOW), "kill_switch")
    assert reason == (
        "the kill switch is on (daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW): "
        "only orders that reduce a position are allowed"
    )
    assert pre.check(market_order(OrderSide.SELL, BTC_UNIT // 10), view, NOW) is None
    pre.state.reset_kill()
    assert pre.check(order(), view, NOW) is None


def test_a_live_venue_must_be_armed() -> None:
    view = make_view()
    pre = risk(live=frozenset({"SIM"}))
    reason = denied(pre.check(order(), view, NOW), "not_armed")
    assert reason == "venue SIM sends real orders and is not armed: arm it before trading"
    pre.state.arm("SIM")
    assert pre.check(order(), view, NOW) is None
    pre.state.disarm("SIM")
    denied(pre.check(order(), view, NOW), "not_armed")
    # Paper venues (not in live_venues) need no arming.
    assert risk().check(order(), view, NOW) is None


def test_unknown_instrument() -> None:
    reason = denied(
        risk().check(order(instrument_id="KRW-NOPE.SIM"), make_view(), NOW), "instrument"
    )
    assert reason == "instrument KRW-NOPE.SIM is not known"


@pytest.mark.parametrize("quantity", [0, -5])
def test_quantity_must_be_positive(quantity: int) -> None:
    reason = denied(risk().check(order(quantity_raw=quantity), make_view(), NOW), "quantity")
    assert reason == f"quantity {Decimal(quantity).scaleb(-8).normalize():f} BTC is not positive"


def test_quantity_must_be_a_whole_number_of_lots() -> None:
    lotted = dataclasses.replace(sim_instrument("KRW-BTC"), lot_size_raw=1_000)  # 0.00001 BTC
    view = make_view(lotted)
    pre = risk()
    reason = denied(pre.check(order(quantity_raw=1_001_500), view, NOW), "lot")
    assert reason == "quantity 0.010015 BTC is not a multiple of the lot size 0.00001 BTC"
    assert pre.check(order(quantity_raw=1_001_000), view, NOW) is None


def test_limit_price_must_be_on_the_tick_grid() -> None:
    view = make_view()
    pre = risk()
    reason = denied(pre.check(order(price_raw=100_000_500), view, NOW), "tick")
    assert reason == "price 100,000,500 is off the tick grid (tick 1,000 at this price)"
    reason = denied(
        pre.check(order(quantity_raw=10, price_raw=70_050, instrument_id=SAMSUNG), view, NOW),
        "tick",
    )
    assert reason == "price 70,050 is off the tick grid (tick 100 at this price)"
    reason = denied(pre.check(order(price_raw=0), view, NOW), "tick")
    # At price precision 0 the Upbit bands below 100 KRW (ticks under 1 KRW) do not exist.
    assert reason == "price 0 is below the lowest price on the tick grid, 100"


def test_stale_feed_denies_entries_but_not_reducing_orders() -> None:
    view = make_view()
    view.fill(BTC, OrderSide.BUY, 100_000_000, BTC_UNIT // 10)
    view.balances["BTC"] = Decimal("0.1")
    pre = risk(stale_feed_s=5.0)
    last_event = view.market_state.get(InstrumentId(BTC)).ts_event  # type: ignore[union-attr]
    assert pre.check(order(), view, last_event + 5 * NS) is None  # exactly 5 s: still live
    later = last_event + 6_500_000_000
    reason = denied(pre.check(order(), view, later), "stale_feed")
    assert reason == "KRW-BTC.SIM: no market data for 6.5 seconds (the limit is 5 seconds)"
    assert pre.check(order(OrderSide.SELL, BTC_UNIT // 10), view, later) is None


def test_paused_instrument_and_a_feed_that_never_started_are_stale() -> None:
    market = MarketState()
    market.add(sim_instrument("KRW-BTC"))
    view = View(market)
    pre = risk()
    reason = denied(pre.check(order(), view, NOW), "stale_feed")
    assert reason == "KRW-BTC.SIM: no market data has arrived yet"
    quote(market, BTC, bid=99_999_000, ask=100_000_000, last=100_000_000)
    pre.state.pause(BTC, "the venue halted trading")
    reason = denied(pre.check(order(), view, NOW), "stale_feed")
    assert reason == "entries on KRW-BTC.SIM are paused: the venue halted trading"
    pre.state.resume(BTC)
    assert pre.check(order(), view, NOW) is None


def test_price_band_against_the_last_trade() -> None:
    view = make_view()
    pre = risk(price_band_pct="5")
    assert pre.check(order(price_raw=105_000_000), view, NOW) is None  # exactly 5%: inside
    view.balances["KRW"] = Decimal(10**9)
    reason = denied(pre.check(order(price_raw=105_001_000), view, NOW), "price_band")
    assert reason == "price 105,001,000 is 5.01% from the last trade 100,000,000 (the band is 5%)"
    reason = denied(pre.check(order(OrderSide.SELL, price_raw=94_000_000), view, NOW), "price_band")
    assert reason == "price 94,000,000 is 6% from the last trade 100,000,000 (the band is 5%)"


def test_price_band_uses_the_mid_before_any_trade() -> None:
    market = MarketState()
    market.add(sim_instrument("005930"))
    quote(market, SAMSUNG, bid=69_900, ask=70_000)  # mid 69,950, no trade yet
    view = View(market)
    pre = risk(price_band_pct="1")
    assert (
        pre.check(order(quantity_raw=1, price_raw=70_600, instrument_id=SAMSUNG), view, NOW) is None
    )
    reason = denied(
        pre.check(order(quantity_raw=1, price_raw=70_700, instrument_id=SAMSUNG), view, NOW),
        "price_band",
    )
    assert reason == "price 70,700 is 1.08% from the mid 69,950 (the band is 1%)"


def test_no_reference_price_or_no_opposite_book_is_a_price_band_denial() -> None:
    market = MarketState()
    market.add(sim_instrument("KRW-BTC"))
    quote(market, BTC, bid=99_999_000)  # bids only, no trade
    view = View(market)
    view.fill(BTC, OrderSide.BUY, 100_000_000, BTC_UNIT // 10)
    view.balances["BTC"] = Decimal("0.1")
    pre = risk()
    reason = denied(pre.check(order(), view, NOW), "price_band")
    assert reason == (
        "KRW-BTC.SIM has no last trade and no two-sided book to check the price 100,000,000 against"
    )
    reason = denied(pre.check(market_order(OrderSide.BUY, 1_000_000), view, NOW), "price_band")
    assert reason == "a market buy on KRW-BTC.SIM has no asks in the book to fill against"
    assert pre.check(market_order(OrderSide.SELL, BTC_UNIT // 10), view, NOW) is None


@given(
    reference=st.integers(min_value=2_000, max_value=900_000),
    offset=st.integers(min_value=-60_000, max_value=60_000),
    band=st.sampled_from(["0.5", "1", "2.5", "5", "12.345"]),
)
def test_price_band_property_matches_exact_decimal_arithmetic(
    reference: int, offset: int, band: str
) -> None:
    samsung = sim_instrument("005930")
    table = samsung.tick_table
    last = table.round_down(reference)
    price = table.round_down(max(table.min_price_raw, last + offset))
    market = MarketState()
    market.add(samsung)
    quote(market, SAMSUNG, bid=table.step_down(last), ask=last, last=last)
    view = View(market)
    view.balances["KRW"] = Decimal(10**12)
    pre = PreTradeRisk(
        limits(price_band_pct=band, max_order_notional={"KRW": "1e12"}),
        RiskState(),
        allow_short=False,
    )
    denial = pre.check(order(quantity_raw=1, price_raw=price, instrument_id=SAMSUNG), view, NOW)
    outside = abs(Decimal(price) - last) * 100 > Decimal(band) * last
    assert (denial is not None and denial.rule == "price_band") == outside


def test_min_notional_values_market_orders_at_the_best_opposite_price() -> None:
    view = make_view()
    pre = risk()
    reason = denied(pre.check(order(quantity_raw=4_999), view, NOW), "min_notional")
    assert reason == "order value 4,999 KRW is below the minimum 5,000 KRW"
    assert pre.check(order(quantity_raw=5_000), view, NOW) is None
    # Sells are valued at the bid: 5,000 raw x 99,999,000 is 4,999.95 KRW.
    view.fill(BTC, OrderSide.BUY, 100_000_000, 5_000)
    view.balances["BTC"] = Decimal("0.00005")
    reason = denied(pre.check(market_order(OrderSide.SELL, 5_000), view, NOW), "min_notional")
    assert reason == "order value 4,999.95 KRW is below the minimum 5,000 KRW"


def test_a_currency_without_limits_cannot_be_traded() -> None:
    pre = risk(max_drawdown={"USDT": "1000"}, daily_loss_limit={"USDT": "1000"})
    reason = denied(pre.check(order(), make_view(), NOW), "no_limit")
    assert reason == (
        "KRW has no risk limit for daily_loss_limit, max_drawdown: set it in [risk] to trade "
        "KRW-BTC.SIM"
    )


def test_max_order_notional() -> None:
    view = make_view()
    view.balances["KRW"] = Decimal(10**9)
    pre = risk(max_order_notional={"KRW": "50000000"})
    assert pre.check(order(quantity_raw=BTC_UNIT // 2), view, NOW) is None  # exactly the limit
    reason = denied(pre.check(order(quantity_raw=50_001_000), view, NOW), "max_order_notional")
    assert reason == "order value 50,001,000 KRW exceeds the limit 50,000,000 KRW"


def test_max_position_counts_the_position_and_open_orders_on_the_same_side() -> None:
    view = make_view()
    view.balances["KRW"] = Decimal(10**9)
    view.fill(BTC, OrderSide.BUY, 100_000_000, 70_000_000)  # 0.7 BTC
    view.rest(order(quantity_raw=20_000_000, price_raw=99_000_000))  # 0.2 BTC bid
    view.rest(order(OrderSide.SELL, 10_000_000, 101_000_000))  # a sell does not add
    pre = risk()
    assert pre.check(order(quantity_raw=10_000_000), view, NOW) is None  # 1.0 BTC: the limit
    reason = denied(pre.check(order(quantity_raw=20_000_000), view, NOW), "max_position")
    assert reason == (
        "the position would be 1.1 BTC, worth 110,000,000 KRW at 100,000,000, above the limit "
        "100,000,000 KRW (held 0.7, open buy orders 0.2, this order 0.2)"
    )


def test_max_gross_exposure_sums_positions_at_their_marks_and_open_orders() -> None:
    view = make_view()
    # A short counts at its size: |-200| x the last trade 70,000 is 14,000,000.
    view.fill(SAMSUNG, OrderSide.SELL, 71_000, 200)
    view.fill(BTC, OrderSide.BUY, 99_000_000, BTC_UNIT // 10)  # 0.1 x the last 100M: 10,000,000
    view.rest(order(quantity_raw=5_000_000, price_raw=99_000_000))  # 4,950,000
    pre = risk(max_gross_exposure={"KRW": "30000000"})
    assert gross_exposure(view, "KRW").total == Decimal(28_950_000)
    assert pre.check(order(quantity_raw=1_000_000), view, NOW) is None  # 29,950,000
    reason = denied(pre.check(order(quantity_raw=2_000_000), view, NOW), "max_gross_exposure")
    assert reason == (
        "gross exposure would be 30,950,000 KRW (positions 24,000,000 KRW, open orders "
        "4,950,000 KRW, this order 2,000,000 KRW), above the limit 30,000,000 KRW"
    )


def test_reducing_orders_skip_the_size_limits_so_a_flatten_always_fits() -> None:
    view = make_view()
    view.fill(BTC, OrderSide.BUY, 100_000_000, 80_000_000)  # 80,000,000 KRW of BTC
    view.balances["BTC"] = Decimal("0.8")
    pre = risk(max_order_notional={"KRW": "50000000"}, max_gross_exposure={"KRW": "60000000"})
    assert pre.check(market_order(OrderSide.SELL, 80_000_000), view, NOW) is None
    denied(pre.check(market_order(OrderSide.SELL, 80_000_001), view, NOW), "max_order_notional")


def test_max_open_orders() -> None:
    view = make_view()
    view.rest(order(price_raw=99_000_000))
    view.rest(order(price_raw=98_000_000))
    reason = denied(risk(max_open_orders=2).check(order(), view, NOW), "max_open_orders")
    assert reason == "2 orders are open and the limit is 2: cancel some first"
    assert risk(max_open_orders=3).check(order(), view, NOW) is None


def test_rate_limit_window_slides_and_denied_orders_do_not_count() -> None:
    view = make_view()
    pre = risk(max_orders_per_second=3)
    for step in range(3):  # at 0, 0.3 and 0.6 s
        assert pre.check(order(), view, NOW + step * 300_000_000) is None
    reason = denied(pre.check(order(), view, NOW + 900_000_000), "rate_limit")
    assert reason == "3 orders were submitted in the last second and the limit is 3 per second"
    denied(pre.check(order(), view, NOW + 999_999_999), "rate_limit")
    # One second after the first, it has left the window; the denials never entered it.
    assert pre.check(order(), view, NOW + NS) is None
    denied(pre.check(order(), view, NOW + NS + 1), "rate_limit")
    assert pre.check(order(), view, NOW + NS + 300_000_000) is None
    # An order denied by an earlier rule is not counted either.
    denied(pre.check(order(quantity_raw=0), view, NOW + 5 * NS), "quantity")
    assert pre.rate.count(NOW + 5 * NS) == 0


def test_buy_needs_free_cash_for_the_price_and_the_taker_fee() -> None:
    view = make_view()
    view.balances["KRW"] = Decimal(1_000_500)
    pre = risk()
    assert pre.check(order(quantity_raw=1_000_000), view, NOW) is None  # 1,000,000 + fee 500
    view.balances["KRW"] = Decimal("1000499.99")
    reason = denied(pre.check(order(quantity_raw=1_000_000), view, NOW), "balance")
    assert reason == (
        "the buy costs 1,000,500 KRW with the estimated fee 500 KRW, more than the free balance "
        "1,000,499.99 KRW"
    )


def test_sell_needs_free_holdings_unless_short_selling_is_allowed() -> None:
    view = make_view()
    view.balances["BTC"] = Decimal("0.003")
    reason = denied(risk().check(order(OrderSide.SELL, 1_000_000), view, NOW), "balance")
    assert reason == "selling 0.01 BTC needs more than the free 0.003 BTC (short selling is off)"
    assert risk().check(order(OrderSide.SELL, 300_000), view, NOW) is None
    assert risk(allow_short=True).check(order(OrderSide.SELL, 1_000_000), view, NOW) is None


def test_the_first_failing_rule_wins() -> None:
    view = make_view()
    view.balances["KRW"] = Decimal(0)
    pre = risk(live=frozenset({"SIM"}))
    bad = order(quantity_raw=0, price_raw=100_000_500, instrument_id="KRW-NOPE.SIM")
    pre.state.trip("manual kill")
    denied(pre.check(bad, view, NOW), "kill_switch")
    pre.state.reset_kill()
    denied(pre.check(bad, view, NOW), "not_armed")
    pre.state.arm("SIM")
    denied(pre.check(bad, view, NOW), "instrument")
    denied(pre.check(order(quantity_raw=0, price_raw=100_000_500), view, NOW), "quantity")
    denied(pre.check(order(price_raw=100_000_500), view, NOW), "tick")
    denied(pre.check(order(), view, NOW), "balance")
