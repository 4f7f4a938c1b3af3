"""Post-trade risk: the day's loss and the fall from the day's peak trip the kill switch.

Equity here is the OMS's total PnL per currency (realized - fees + unrealized); only differences
within a trading day matter, so where it counts from does not. The trading day is the KST date
(UTC+9, no daylight saving): it rolls at 00:00 KST, and the equity then is the day's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from engine.risk.limits import NS_PER_S, RiskLimits
from engine.risk.money import money, subtract
from engine.risk.state import RiskState

KST_OFFSET_NS = 9 * 3600 * NS_PER_S
_NS_PER_DAY = 86_400 * NS_PER_S
_EPOCH = date(1970, 1, 1)


def trading_day(now_ns: int) -> str:
    """The KST date of ``now_ns`` (ns UTC) as ``YYYY-MM-DD``."""
    global _last_day  # a one-entry cache
    days = (now_ns + KST_OFFSET_NS) // _NS_PER_DAY
    cached = _last_day  # one read: another thread may swap it, never tear it
    if cached[0] != days:
        # Computed once per day: the text is asked for at every check.
        cached = _last_day = (days, (_EPOCH + timedelta(days=days)).isoformat())
    return cached[1]


_last_day: tuple[int, str] = (-1, "")
"""The last day number asked for and its text."""


class PostTradeRisk:
    """Tracks each currency's equity through the day and trips the kill switch on a breach."""

    def __init__(self, limits: RiskLimits, state: RiskState) -> None:
        self.limits = limits
        self.state = state

    def update(self, now_ns: int, equity_by_currency: Mapping[str, Decimal]) -> str | None:
        """Record equity at ``now_ns``; the trip reason the first time a limit is breached.

        Each limit (per currency) trips at most once a trading day, so resetting the kill switch
        after a trip is not undone at the next update; the next day starts clean.
        """
        state = self.state
        day = trading_day(now_ns)
        if state.day != day:
            state.day = day
            state.day_start_equity.clear()
            state.equity_peak.clear()
            state.breached.clear()
        reasons: list[str] = []
        loss_limits, drawdown_limits = self.limits.daily_loss_limit, self.limits.max_drawdown
        for currency, equity in equity_by_currency.items():
            start = state.day_start_equity.setdefault(currency, equity)
            peak = state.equity_peak.get(currency)
            if peak is None or equity > peak:
                state.equity_peak[currency] = peak = equity
            state.equity[currency] = equity
            loss, drawdown = subtract(start, equity), subtract(peak, equity)
            # Most updates breach nothing: _breaches (and its text) only when a limit is passed.
            loss_limit = loss_limits.get(currency)
            drawdown_limit = drawdown_limits.get(currency)
            if (loss_limit is not None and loss > loss_limit) or (
                drawdown_limit is not None and drawdown > drawdown_limit
            ):
                reasons += self._breaches(currency, loss, drawdown)
        if not reasons:
            return None
        reason = "; ".join(reasons)
        state.trip(reason)
        return reason

    def _breaches(self, currency: str, loss: Decimal, drawdown: Decimal) -> list[str]:
        """New breaches for ``currency`` (each marked so it is reported once a day)."""
        state = self.state
        found = []
        loss_limit = self.limits.daily_loss_limit.get(currency)
        key = f"daily_loss:{currency}"
        if loss_limit is not None and loss > loss_limit and key not in state.breached:
            state.breached.add(key)
            found.append(
                f"daily loss {money(loss, currency)} exceeds the limit "
                f"{money(loss_limit, currency)}"
            )
        drawdown_limit = self.limits.max_drawdown.get(currency)
        key = f"drawdown:{currency}"
        if drawdown_limit is not None and drawdown > drawdown_limit and key not in state.breached:
            state.breached.add(key)
            peak = state.equity_peak[currency]
            found.append(
                f"drawdown {money(drawdown, currency)} from the day's peak equity "
                f"{money(peak, currency)} exceeds the limit {money(drawdown_limit, currency)}"
            )
        return found
