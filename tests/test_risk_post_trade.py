"""Post-trade risk: daily loss and drawdown trip the kill switch once; the KST day rolls."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config.settings import RiskSettings
from engine.risk import PostTradeRisk, RiskLimits, RiskState, trading_day
from engine.risk.post_trade import as_decimal

NS = 1_000_000_000


def utc_ns(text: str) -> int:
    """``2026-01-31T14:59:59`` (UTC) as integer ns."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


MORNING = utc_ns("2026-01-31T00:30:00")  # 09:30 KST on 31 January
LIMITS = RiskLimits.from_settings(
    RiskSettings(daily_loss_limit={"KRW": "5000000"}, max_drawdown={"KRW": "10000000"})
)


def krw(amount: int | str) -> dict[str, Decimal]:
    return {"KRW": Decimal(amount)}


def post() -> PostTradeRisk:
    return PostTradeRisk(LIMITS, RiskState())


def test_trading_day_is_the_kst_date_and_rolls_at_midnight_kst() -> None:
    last_ns_of_day = utc_ns("2026-01-31T15:00:00") - 1  # 23:59:59.999999999 KST
    assert trading_day(last_ns_of_day) == "2026-01-31"
    assert trading_day(last_ns_of_day + 1) == "2026-02-01"
    assert trading_day(utc_ns("2026-01-30T15:00:00")) == "2026-01-31"
    assert trading_day(0) == "1970-01-01"  # 09:00 KST


def test_daily_loss_trips_the_kill_switch_once() -> None:
    risk = post()
    assert risk.update(MORNING, krw(1_000_000)) is None  # the day starts at +1,000,000
    assert risk.state.day == "2026-01-31"
    assert risk.state.day_start_equity == krw(1_000_000)
    assert risk.update(MORNING + NS, krw(-4_000_000)) is None  # a loss of exactly the limit
    reason = risk.update(MORNING + 2 * NS, krw(-4_000_100))
    assert reason == "daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW"
    assert risk.state.kill_switch
    assert risk.state.kill_reason == reason
    # Still over the limit, or deeper: not reported again, and a reset by the user stands.
    assert risk.update(MORNING + 3 * NS, krw(-4_500_000)) is None
    risk.state.reset_kill()
    assert risk.update(MORNING + 4 * NS, krw(-5_000_000)) is None
    assert not risk.state.kill_switch


def test_the_kst_day_roll_starts_the_daily_loss_again() -> None:
    risk = post()
    before_midnight = utc_ns("2026-01-31T14:59:00")  # 23:59 KST
    assert risk.update(before_midnight, krw(0)) is None
    assert risk.update(before_midnight + 30 * NS, krw(-4_900_000)) is None
    after_midnight = utc_ns("2026-01-31T15:00:00")  # 00:00 KST, 1 February
    # Another 200,000 lost since 23:59 would be 5,100,000 on the old day; the new day starts here.
    assert risk.update(after_midnight, krw(-5_100_000)) is None
    assert risk.state.day == "2026-02-01"
    assert risk.state.day_start_equity == krw(-5_100_000)
    assert risk.state.daily_pnl("KRW") == 0
    assert risk.update(after_midnight + NS, krw(-10_100_000)) is None  # exactly 5,000,000
    reason = risk.update(after_midnight + 2 * NS, krw("-10100000.01"))
    assert reason == "daily loss 5,000,000.01 KRW exceeds the limit 5,000,000 KRW"


def test_a_trip_yesterday_does_not_stop_a_trip_today() -> None:
    risk = post()
    risk.update(MORNING, krw(0))
    assert risk.update(MORNING + NS, krw(-6_000_000)) is not None
    risk.state.reset_kill()
    next_morning = MORNING + 86_400 * NS
    assert risk.update(next_morning, krw(-6_000_000)) is None
    assert risk.update(next_morning + NS, krw(-11_000_001)) is not None
    assert risk.state.kill_switch


def test_drawdown_from_the_days_peak() -> None:
    risk = post()
    risk.update(MORNING, krw(0))
    risk.update(MORNING + NS, krw(8_000_000))
    risk.update(MORNING + 2 * NS, krw(7_000_000))
    assert risk.state.equity_peak == krw(8_000_000)
    assert risk.state.drawdown("KRW") == 1_000_000
    # Down 2,000,000 on the day (inside the daily limit) but 10,000,001 from the peak.
    assert risk.update(MORNING + 3 * NS, krw(-2_000_000)) is None
    reason = risk.update(MORNING + 4 * NS, krw(-2_000_001))
    assert reason == (
        "drawdown 10,000,001 KRW from the day's peak equity 8,000,000 KRW exceeds the limit "
        "10,000,000 KRW"
    )
    assert risk.state.kill_reason == reason


def test_both_limits_in_one_update_make_one_reason() -> None:
    risk = post()
    risk.update(MORNING, krw(0))
    reason = risk.update(MORNING + NS, krw(-10_000_001))
    assert reason == (
        "daily loss 10,000,001 KRW exceeds the limit 5,000,000 KRW; drawdown 10,000,001 KRW from "
        "the day's peak equity 0 KRW exceeds the limit 10,000,000 KRW"
    )


def test_a_currency_without_limits_never_trips_but_is_tracked() -> None:
    risk = post()
    risk.update(MORNING, {"USDT": Decimal(0)})
    assert risk.update(MORNING + NS, {"USDT": Decimal(-(10**12))}) is None
    assert not risk.state.kill_switch
    assert risk.state.daily_pnl("USDT") == -(10**12)


def test_restored_state_keeps_the_days_start_and_breaches() -> None:
    risk = post()
    risk.update(MORNING, krw(0))
    risk.update(MORNING + NS, krw(-6_000_000))
    restored = PostTradeRisk(LIMITS, RiskState.from_dict(risk.state.to_dict()))
    assert restored.state.kill_switch
    assert restored.update(MORNING + 2 * NS, krw(-6_500_000)) is None  # already reported
    assert restored.state.daily_pnl("KRW") == -6_500_000


@given(
    steps=st.lists(st.integers(min_value=-3_000_000, max_value=3_000_000), min_size=1, max_size=30)
)
def test_trips_exactly_when_a_limit_is_first_exceeded(steps: list[int]) -> None:
    risk = post()
    equity = Decimal(0)
    start = peak = equity
    risk.update(MORNING, krw(equity))
    seen: set[str] = set()
    for n, step in enumerate(steps, start=1):
        equity += step
        peak = max(peak, equity)
        expected = []
        if start - equity > 5_000_000 and "loss" not in seen:
            seen.add("loss")
            expected.append("daily loss")
        if peak - equity > 10_000_000 and "drawdown" not in seen:
            seen.add("drawdown")
            expected.append("drawdown")
        reason = risk.update(MORNING + n * NS, krw(equity))
        if expected:
            assert reason is not None
            assert [part.split(" ")[0] for part in reason.split("; ")] == [
                kind.split(" ")[0] for kind in expected
            ]
        else:
            assert reason is None
    assert risk.state.kill_switch == bool(seen)


_RAW_STEP = st.tuples(
    st.sampled_from([0] * 30 + [1, 3]),  # hours forward (KST midnight now and then)
    st.sampled_from([("KRW",)] * 6 + [("KRW", "USDT"), ("USDT",)]),  # currencies held
    st.one_of(
        st.integers(-2_000_000_000, 2_000_000_000).map(lambda v: ("jump", v)),  # +-20 M
        st.integers(-150_000_000, 150_000_000).map(lambda v: ("move", v)),  # +-1.5 M
        st.integers(-150_000_000, 150_000_000).map(lambda v: ("move", v)),
        st.integers(-3, 3).map(lambda v: ("move", v)),  # a hair (and 0: equity as it was)
    ),
    st.sampled_from([2] * 30 + [3, 8]),  # the scale, now and then changed
    st.sampled_from([False] * 8 + [True]),  # the user resets the kill switch after
    st.sampled_from([False] * 40 + [True]),  # amounts past 28 digits
)


@given(st.lists(_RAW_STEP, min_size=1, max_size=120))
def test_update_raw_is_update_of_the_decimals(
    steps: list[tuple[int, tuple[str, ...], tuple[str, int], int, bool, bool]],
) -> None:
    """The integer path (what the OMS calls at every check) leaves the same state and trips at
    the same steps as :meth:`PostTradeRisk.update` given the same equity as decimals: equity
    that jumps, walks across the limits, stays or moves by a hair, on days that roll."""
    fast, slow = post(), post()
    now = utc_ns("2026-01-31T12:00:00")  # 21:00 KST: a day roll within a few steps
    raw = {"KRW": 0, "USDT": 0}
    for hours, currencies, (how, value), scale, reset, huge in steps:
        now += hours * 3600 * NS + NS
        for currency in currencies:
            raw[currency] = value if how == "jump" else raw[currency] + value
        equity = {c: (raw[c] * 10**30 if huge else raw[c], scale) for c in currencies}
        assert fast.update_raw(now, equity) == slow.update(now, as_decimal(equity))
        for risk in (fast, slow):
            if reset:
                risk.state.reset_kill()
        assert fast.state.to_dict() == slow.state.to_dict()
        assert fast.state.equity == slow.state.equity
        assert fast.state.equity_peak == slow.state.equity_peak


@pytest.mark.parametrize(
    ("seed", "loss", "drawdown"),
    [(1, "5000000", "10000000"), (2, "5000000", "10000000"), (3, "8000000", "3000000")],
)
def test_update_raw_is_update_of_the_decimals_on_a_long_walk(
    seed: int, loss: str, drawdown: str
) -> None:
    """The same on long walks of equity (a backtest's checks): thousands of small moves that
    cross the daily loss and drawdown limits again and again, over several days, with the
    kill switch reset now and then."""
    rng = random.Random(seed)
    limits = RiskLimits.from_settings(
        RiskSettings(
            daily_loss_limit={"KRW": loss, "USDT": "9000"},
            max_drawdown={"KRW": drawdown, "USDT": "4000"},
        )
    )
    fast, slow = PostTradeRisk(limits, RiskState()), PostTradeRisk(limits, RiskState())
    now = utc_ns("2026-01-31T12:00:00")
    raw = {"KRW": 0, "USDT": 0}
    trips = 0
    for _ in range(5_000):
        now += rng.choice([NS] * 50 + [3 * 3600 * NS])
        held = ("KRW",) if rng.random() < 0.9 else ("KRW", "USDT")
        for currency in held:
            # Big and small moves, and hairs (or nothing): some land next to a limit.
            step = rng.choice([150_000_000, 150_000_000, 5_000_000, 100_000, 3])
            raw[currency] += rng.randint(-step, step)
        equity = {currency: (raw[currency], 2) for currency in held}
        reason = fast.update_raw(now, equity)
        assert reason == slow.update(now, as_decimal(equity))
        trips += reason is not None
        if rng.random() < 0.05:
            fast.state.reset_kill()
            slow.state.reset_kill()
        assert fast.state.to_dict() == slow.state.to_dict()
    assert trips >= 5  # the limits were crossed, more than once


@pytest.mark.parametrize("scale", [0, 2, 8])
def test_update_raw_trips_at_the_same_raw_unit_as_update(scale: int) -> None:
    """At a limit exactly nothing trips; one raw unit past it, the limit trips, on the integer
    path as on the Decimal one (the daily loss, then the drawdown from the day's peak)."""
    unit = 10**scale  # one KRW in raw units at this scale

    def walk(amounts: list[int]) -> list[str | None]:
        fast, slow = post(), post()
        reasons = []
        for step, raw in enumerate(amounts):
            equity = {"KRW": (raw, scale)}
            reason = fast.update_raw(MORNING + step * NS, equity)
            assert reason == slow.update(MORNING + step * NS, as_decimal(equity))
            assert fast.state.to_dict() == slow.state.to_dict()
            reasons.append(reason)
        return reasons

    # The daily loss limit is 5,000,000 KRW.
    loss = walk([0, -1, -5_000_000 * unit, -5_000_000 * unit - 1])
    assert loss[:3] == [None, None, None]
    assert loss[3] is not None and loss[3].startswith("daily loss")
    # The drawdown limit is 10,000,000 KRW: up 6 M, then down to 10 M below that peak.
    drawdown = walk([0, 6_000_000 * unit, -4_000_000 * unit, -4_000_000 * unit - 1])
    assert drawdown[:3] == [None, None, None]
    assert drawdown[3] is not None and drawdown[3].startswith("drawdown")
