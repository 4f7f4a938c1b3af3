"""What the risk engine allows right now: kill switch, armed venues, paused instruments, the day.

Mutable, journalled as a plain dict (:meth:`RiskState.to_dict`) so a restart keeps a tripped kill
switch tripped and the day's starting equity where it was, and published as the retained
``risk/state`` payload (:meth:`RiskState.to_payload`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.protocol import trading
from engine.risk.limits import RiskLimits
from engine.risk.money import ZERO, subtract


class RiskState:
    """Kill switch, armed venues, paused instruments and the trading day's equity marks."""

    __slots__ = (
        "armed_venues",
        "breached",
        "day",
        "day_start_equity",
        "equity",
        "equity_peak",
        "kill_reason",
        "kill_switch",
        "paused",
    )

    def __init__(self) -> None:
        self.kill_switch = False
        """On: entries are denied, orders that reduce a position still pass."""
        self.kill_reason: str | None = None
        self.armed_venues: set[str] = set()
        """Live venues the user armed for real orders (paper venues need no arming)."""
        self.paused: dict[str, str] = {}
        """Instrument id -> why its entries are paused."""
        self.day: str | None = None
        """The trading day (KST date, ``2025-01-31``) the equity marks belong to."""
        self.day_start_equity: dict[str, Decimal] = {}
        """Equity (total PnL) per currency when the day began."""
        self.equity_peak: dict[str, Decimal] = {}
        """Highest equity per currency since the day began."""
        self.equity: dict[str, Decimal] = {}
        """Latest equity per currency (for the payload's daily PnL and drawdown)."""
        self.breached: set[str] = set()
        """Post-trade limits already tripped today (``daily_loss:KRW``): each trips once a day."""

    # --- kill switch, arming, pauses ----------------------------------------------------------

    def trip(self, reason: str) -> None:
        """Turn the kill switch on; the first reason stays (it is the cause)."""
        if not self.kill_switch:
            self.kill_switch = True
            self.kill_reason = reason

    def reset_kill(self) -> None:
        self.kill_switch = False
        self.kill_reason = None

    def arm(self, venue: str) -> None:
        self.armed_venues.add(venue)

    def disarm(self, venue: str) -> None:
        self.armed_venues.discard(venue)

    def pause(self, instrument_id: str, reason: str) -> None:
        """Deny entries on ``instrument_id`` until :meth:`resume`."""
        self.paused[instrument_id] = reason

    def resume(self, instrument_id: str) -> None:
        self.paused.pop(instrument_id, None)

    # --- the day's equity ---------------------------------------------------------------------

    def daily_pnl(self, currency: str) -> Decimal:
        """Equity now minus equity when the day began (0 before the first update)."""
        if currency not in self.equity:
            return ZERO
        return subtract(self.equity[currency], self.day_start_equity.get(currency, ZERO))

    def drawdown(self, currency: str) -> Decimal:
        """How far equity is below the day's peak (0 at a new peak)."""
        if currency not in self.equity:
            return ZERO
        return subtract(self.equity_peak.get(currency, ZERO), self.equity[currency])

    # --- journal and bus ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; money as exact decimal text."""
        return {
            "kill_switch": self.kill_switch,
            "kill_reason": self.kill_reason,
            "armed_venues": sorted(self.armed_venues),
            "paused": dict(sorted(self.paused.items())),
            "day": self.day,
            "day_start_equity": _texts(self.day_start_equity),
            "equity_peak": _texts(self.equity_peak),
            "equity": _texts(self.equity),
            "breached": sorted(self.breached),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskState:
        """The state :meth:`to_dict` wrote; keys it lacks (an older journal) take defaults."""
        state = cls()
        state.kill_switch = bool(data.get("kill_switch", False))
        state.kill_reason = data.get("kill_reason")
        state.armed_venues = set(data.get("armed_venues", ()))
        state.paused = dict(data.get("paused", {}))
        state.day = data.get("day")
        state.day_start_equity = _decimals(data.get("day_start_equity", {}))
        state.equity_peak = _decimals(data.get("equity_peak", {}))
        state.equity = _decimals(data.get("equity", {}))
        state.breached = set(data.get("breached", ()))
        return state

    def to_payload(
        self,
        ts: int,
        limits: RiskLimits,
        *,
        currency: str,
        open_orders: int,
        gross_exposure: Decimal,
        stale: Mapping[str, str] | None = None,
        allow_short: bool | None = None,
    ) -> trading.RiskState:
        """The ``risk/state`` payload for ``currency``.

        ``stale`` adds instruments whose feed is silent (:func:`engine.risk.stale_feed.stale_feeds`)
        to the paused list; a limit the currency does not have shows as ``0`` (the per-order
        limits a console checks as the user types, as null).
        """
        paused = dict(self.paused)
        for instrument_id, reason in (stale or {}).items():
            paused.setdefault(instrument_id, reason)
        return trading.RiskState(
            ts=ts,
            kill_switch=self.kill_switch,
            kill_reason=self.kill_reason,
            armed_venues=sorted(self.armed_venues),
            paused=[
                trading.PausedInstrument(instrument_id=instrument_id, reason=reason)
                for instrument_id, reason in sorted(paused.items())
            ],
            daily_pnl=_text(self.daily_pnl(currency)),
            daily_loss_limit=_text(limits.daily_loss_limit.get(currency, ZERO)),
            drawdown=_text(self.drawdown(currency)),
            max_drawdown=_text(limits.max_drawdown.get(currency, ZERO)),
            open_orders=open_orders,
            max_open_orders=limits.max_open_orders,
            gross_exposure=_text(gross_exposure),
            max_gross_exposure=_text(limits.max_gross_exposure.get(currency, ZERO)),
            currency=currency,
            max_order_notional=_optional_text(limits.max_order_notional.get(currency)),
            max_position_notional=_optional_text(limits.max_position_notional.get(currency)),
            price_band_pct=_text(limits.price_band_pct),
            allow_short=allow_short,
        )


def _text(value: Decimal) -> str:
    """Exact decimal text without an exponent (``5E+6`` would confuse readers and parsers)."""
    return f"{value:f}"


def _optional_text(value: Decimal | None) -> str | None:
    return None if value is None else _text(value)


def _texts(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {currency: _text(value) for currency, value in sorted(values.items())}


def _decimals(values: Mapping[str, str]) -> dict[str, Decimal]:
    return {currency: Decimal(text) for currency, text in values.items()}
