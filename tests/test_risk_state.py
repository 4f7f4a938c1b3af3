"""Risk state: kill switch, arming, pauses; the journal round trip and the bus payload."""

from __future__ import annotations

import json
from decimal import Decimal

from engine.config.settings import RiskSettings
from engine.protocol import trading
from engine.protocol.codec import encode
from engine.risk import RiskLimits, RiskState


def busy_state() -> RiskState:
    state = RiskState()
    state.trip("daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW")
    state.trip("a later reason")  # the first cause stays
    state.arm("UPBIT")
    state.arm("KRX")
    state.disarm("KRX")
    state.pause("005930.SIM", "the venue halted trading")
    state.day = "2026-01-31"
    state.day_start_equity = {"KRW": Decimal("1000000.5")}
    state.equity_peak = {"KRW": Decimal("3000000.25")}
    state.equity = {"KRW": Decimal("-4000000.00000001")}
    state.breached = {"daily_loss:KRW"}
    return state


def test_kill_switch_keeps_the_first_reason_until_reset() -> None:
    state = busy_state()
    assert state.kill_switch
    assert state.kill_reason == "daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW"
    state.reset_kill()
    assert (state.kill_switch, state.kill_reason) == (False, None)
    state.trip("manual")
    assert state.kill_reason == "manual"


def test_round_trip_through_json_is_exact() -> None:
    state = busy_state()
    data = json.loads(json.dumps(state.to_dict()))
    assert data["equity"] == {"KRW": "-4000000.00000001"}
    restored = RiskState.from_dict(data)
    assert restored.to_dict() == state.to_dict()
    assert restored.armed_venues == {"UPBIT"}
    assert restored.paused == {"005930.SIM": "the venue halted trading"}
    assert restored.equity == {"KRW": Decimal("-4000000.00000001")}
    assert restored.breached == {"daily_loss:KRW"}


def test_an_older_journal_without_some_keys_loads_with_defaults() -> None:
    restored = RiskState.from_dict({"kill_switch": True, "kill_reason": "manual"})
    assert restored.kill_switch and restored.kill_reason == "manual"
    assert (restored.day, restored.armed_venues, restored.equity) == (None, set(), {})


def test_payload_carries_daily_pnl_drawdown_limits_and_stale_feeds() -> None:
    state = busy_state()
    limits = RiskLimits.from_settings(RiskSettings())
    payload = state.to_payload(
        123,
        limits,
        currency="KRW",
        open_orders=3,
        gross_exposure=Decimal("12500000.5"),
        stale={"KRW-BTC.SIM": "stale feed: no market data has arrived yet"},
    )
    assert payload == trading.RiskState(
        ts=123,
        kill_switch=True,
        kill_reason="daily loss 5,000,100 KRW exceeds the limit 5,000,000 KRW",
        armed_venues=["UPBIT"],
        paused=[
            trading.PausedInstrument(instrument_id="005930.SIM", reason="the venue halted trading"),
            trading.PausedInstrument(
                instrument_id="KRW-BTC.SIM", reason="stale feed: no market data has arrived yet"
            ),
        ],
        daily_pnl="-5000000.50000001",
        daily_loss_limit="5000000",
        drawdown="7000000.25000001",
        max_drawdown="10000000",
        open_orders=3,
        max_open_orders=50,
        gross_exposure="12500000.5",
        max_gross_exposure="300000000",
        currency="KRW",
        max_order_notional="50000000",
        max_position_notional="100000000",
        price_band_pct="5",
    )
    assert b"E+" not in encode(payload)
    empty = RiskState().to_payload(
        1, limits, currency="USDT", open_orders=0, gross_exposure=Decimal(0)
    )
    assert (empty.daily_pnl, empty.drawdown, empty.daily_loss_limit) == ("0", "0", "0")
    assert (empty.max_order_notional, empty.max_position_notional) == (None, None)
