"""Risk limits: parsed once from [risk]; a bad value names its key and value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.config.settings import RiskSettings
from engine.risk import ExitDefaults, RiskLimits

ROOT = Path(__file__).resolve().parent.parent


def test_config_toml_defaults_parse_exactly() -> None:
    documented = msgspec.toml.decode((ROOT / "config.toml").read_bytes())["risk"]
    limits = RiskLimits.from_settings(msgspec.convert(documented, RiskSettings))
    assert limits == RiskLimits.from_settings(RiskSettings())
    assert limits.price_band_pct == Decimal(5)
    assert dict(limits.max_order_notional) == {"KRW": Decimal(50_000_000)}
    assert dict(limits.max_gross_exposure) == {"KRW": Decimal(300_000_000)}
    assert (limits.max_open_orders, limits.max_orders_per_second) == (50, 20)
    assert limits.stale_feed_ns == 5_000_000_000
    assert limits.exits == ExitDefaults()
    assert limits.missing_limits("KRW") == []
    assert limits.missing_limits("USDT") == [
        "max_order_notional",
        "max_position_notional",
        "max_gross_exposure",
        "daily_loss_limit",
        "max_drawdown",
    ]


def test_decimal_text_is_kept_exact() -> None:
    limits = RiskLimits.from_settings(
        RiskSettings(
            price_band_pct="0.1",
            max_order_notional={"KRW": "1234567.89", "USDT": "1e3"},
            stale_feed_s=0.1,
            trailing_stop_pct="0.35",
        )
    )
    assert limits.price_band_pct == Decimal("0.1")
    assert limits.max_order_notional == {"KRW": Decimal("1234567.89"), "USDT": Decimal(1000)}
    assert limits.stale_feed_ns == 100_000_000
    assert limits.exits.trailing_stop_pct == Decimal("0.35")
    with pytest.raises(TypeError):
        limits.max_order_notional["KRW"] = Decimal(1)  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"price_band_pct": "five"}, "risk.price_band_pct = 'five' is not a decimal number"),
        ({"price_band_pct": "0"}, "risk.price_band_pct = '0' must be more than 0 (percent)"),
        ({"price_band_pct": "NaN"}, "risk.price_band_pct = 'NaN' is not a finite number"),
        (
            {"max_order_notional": {"KRW": "5,000"}},
            "risk.max_order_notional.KRW = '5,000' is not a decimal number",
        ),
        (
            {"daily_loss_limit": {"KRW": "-1"}},
            "risk.daily_loss_limit.KRW = '-1' must be more than 0",
        ),
        (
            {"max_drawdown": {"krw": "1"}},
            "risk.max_drawdown has the currency 'krw'; currencies are upper-case codes",
        ),
        ({"max_open_orders": 0}, "risk.max_open_orders = 0 must be a whole number, 1 or more"),
        (
            {"max_orders_per_second": -3},
            "risk.max_orders_per_second = -3 must be a whole number, 1 or more",
        ),
        ({"stale_feed_s": 0.0}, "risk.stale_feed_s = 0.0 must be more than 0 seconds"),
        ({"stale_feed_s": float("inf")}, "risk.stale_feed_s = 'inf' is not a finite number"),
        ({"stop_loss_pct": "100"}, "risk.stop_loss_pct = '100' must be below 100 (percent)"),
        ({"take_profit_pct": "-1"}, "risk.take_profit_pct = '-1' must be 0 or more (percent)"),
        ({"trailing_stop_pct": "x"}, "risk.trailing_stop_pct = 'x' is not a decimal number"),
    ],
)
def test_bad_values_name_the_key_and_the_value(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        RiskLimits.from_settings(RiskSettings(**overrides))
    assert str(error.value).startswith(message)
