"""Risk limits, parsed and checked once from :class:`engine.config.settings.RiskSettings`.

The settings keep money and percentages as decimal text (exact, and readable in ``config.toml``);
the checks need ``Decimal`` and integer nanoseconds. Parsing here means a bad value stops the
engine at start with the key and the value named, instead of denying orders later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from engine.config.settings import RiskSettings

NS_PER_S = 1_000_000_000
_HUNDRED = Decimal(100)
_CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")

MONEY_LIMIT_KEYS = (
    "max_order_notional",
    "max_position_notional",
    "max_gross_exposure",
    "daily_loss_limit",
    "max_drawdown",
)
"""The per-currency tables; a quote currency missing from any of them cannot be traded."""


@dataclass(frozen=True, slots=True)
class ExitDefaults:
    """Protective exits a newly opened position gets, in percent from its entry (0: none)."""

    stop_loss_pct: Decimal = Decimal(0)
    take_profit_pct: Decimal = Decimal(0)
    trailing_stop_pct: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every limit the risk engine enforces, as exact values. Money limits are per currency."""

    price_band_pct: Decimal
    max_order_notional: Mapping[str, Decimal]
    max_position_notional: Mapping[str, Decimal]
    max_gross_exposure: Mapping[str, Decimal]
    max_open_orders: int
    max_orders_per_second: int
    daily_loss_limit: Mapping[str, Decimal]
    max_drawdown: Mapping[str, Decimal]
    stale_feed_ns: int
    exits: ExitDefaults = field(default_factory=ExitDefaults)

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> RiskLimits:
        """Parse ``settings``; :class:`ValueError` names the first bad key and its value."""
        return cls(
            price_band_pct=_percent("price_band_pct", settings.price_band_pct, positive=True),
            max_order_notional=_money_table("max_order_notional", settings.max_order_notional),
            max_position_notional=_money_table(
                "max_position_notional", settings.max_position_notional
            ),
            max_gross_exposure=_money_table("max_gross_exposure", settings.max_gross_exposure),
            max_open_orders=_count("max_open_orders", settings.max_open_orders),
            max_orders_per_second=_count("max_orders_per_second", settings.max_orders_per_second),
            daily_loss_limit=_money_table("daily_loss_limit", settings.daily_loss_limit),
            max_drawdown=_money_table("max_drawdown", settings.max_drawdown),
            stale_feed_ns=_seconds_to_ns("stale_feed_s", settings.stale_feed_s),
            exits=ExitDefaults(
                stop_loss_pct=_percent("stop_loss_pct", settings.stop_loss_pct, below_100=True),
                take_profit_pct=_percent("take_profit_pct", settings.take_profit_pct),
                trailing_stop_pct=_percent(
                    "trailing_stop_pct", settings.trailing_stop_pct, below_100=True
                ),
            ),
        )

    def missing_limits(self, currency: str) -> list[str]:
        """The per-currency tables that have no entry for ``currency`` (empty: all set)."""
        return [key for key in MONEY_LIMIT_KEYS if currency not in getattr(self, key)]


def _decimal(key: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"risk.{key} = {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"risk.{key} = {text!r} is not a finite number")
    return value


def _percent(key: str, text: str, *, positive: bool = False, below_100: bool = False) -> Decimal:
    value = _decimal(key, text)
    if value < 0 or (positive and value == 0):
        expected = "more than 0" if positive else "0 or more"
        raise ValueError(f"risk.{key} = {text!r} must be {expected} (percent)")
    if below_100 and value >= _HUNDRED:
        raise ValueError(f"risk.{key} = {text!r} must be below 100 (percent)")
    return value


def _money_table(key: str, table: Mapping[str, str]) -> Mapping[str, Decimal]:
    parsed: dict[str, Decimal] = {}
    for currency, text in table.items():
        if not _CURRENCY_RE.match(currency):
            raise ValueError(
                f"risk.{key} has the currency {currency!r}; currencies are upper-case codes "
                f"such as 'KRW' or 'USDT'"
            )
        value = _decimal(f"{key}.{currency}", text)
        if value <= 0:
            raise ValueError(
                f"risk.{key}.{currency} = {text!r} must be more than 0 "
                f"(leave the currency out to stop trading it)"
            )
        parsed[currency] = value
    return MappingProxyType(parsed)


def _count(key: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"risk.{key} = {value!r} must be a whole number, 1 or more")
    return value


def _seconds_to_ns(key: str, seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"risk.{key} = {seconds!r} is not a number of seconds")
    # Through the shortest decimal text of the float, so 0.1 s is exactly 100,000,000 ns.
    value = _decimal(key, repr(seconds))
    if value <= 0:
        raise ValueError(f"risk.{key} = {seconds!r} must be more than 0 seconds")
    return int(value * NS_PER_S)
