"""Post-trade risk: the day's loss and the fall from the day's peak trip the kill switch.

Equity here is the OMS's total PnL per currency (realized - fees + unrealized); only differences
within a trading day matter, so where it counts from does not. The trading day is the KST date
(UTC+9, no daylight saving): it rolls at 00:00 KST, and the equity then is the day's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from engine.domain.fixed_point import floor_raw, from_raw
from engine.risk.limits import NS_PER_S, RiskLimits
from engine.risk.money import EXACT, money, subtract
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


def trading_day_span(now_ns: int) -> tuple[int, int]:
    """The trading day (KST) holding ``now_ns`` as ``[start, end)`` in ns UTC."""
    start = (now_ns + KST_OFFSET_NS) // _NS_PER_DAY * _NS_PER_DAY - KST_OFFSET_NS
    return start, start + _NS_PER_DAY


_last_day: tuple[int, str] = (-1, "")
"""The last day number asked for and its text."""

RawEquity = Mapping[str, tuple[int, int]]
"""Equity per currency as ``(raw, scale)``: the value is ``raw * 10**-scale`` (what the OMS sums
in integers)."""

_EXACT_DIGITS = 10**28
"""Below this, ``Decimal(0) + value`` in the default context (28 digits) is exact, so integer
comparisons of raw values agree with the Decimal ones."""


@dataclass(slots=True)
class _Marks:
    """One currency's marks of the day in raw integers at ``scale``, beside the Decimal objects
    the state holds (so a change made to the state by anyone else is seen by identity)."""

    scale: int
    start: int
    peak: int
    last: int
    last_dec: Decimal
    start_dec: Decimal
    peak_dec: Decimal
    loss_floor: int | None
    """The largest raw loss within the daily loss limit (None: no limit for the currency)."""
    drawdown_floor: int | None


def as_decimal(equity: RawEquity) -> dict[str, Decimal]:
    """Raw equity as decimals: the integer sums are exact, and ``0 +`` applies the context's
    rounding once (past 28 significant digits)."""
    return {currency: _ZERO + from_raw(raw, scale) for currency, (raw, scale) in equity.items()}


_ZERO = Decimal(0)


def _floor(limit: Decimal | None, scale: int) -> int | None:
    return None if limit is None else floor_raw(limit, scale)


def _whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


class PostTradeRisk:
    """Tracks each currency's equity through the day and trips the kill switch on a breach."""

    def __init__(self, limits: RiskLimits, state: RiskState) -> None:
        self.limits = limits
        self.state = state
        self._marks: dict[str, _Marks] = {}
        self._marks_from = self._marks_until = 0
        """The trading day the marks were taken on, ``[from, until)`` in ns (empty: none)."""
        self._marks_limits: RiskLimits | None = None
        self._marks_state: RiskState | None = None

    def update_raw(self, now_ns: int, equity: RawEquity) -> str | None:
        """:meth:`update` with ``as_decimal(equity)``, the same state and the same trips, at a
        fraction of the cost where it is called most (every check of a backtest holding a
        position): while the day, the limits and the state's marks are those the last call
        left, the marks are compared as integers and only the latest equity is made a Decimal.
        Anything else (a new day or currency, a limit passed, a mark changed by anyone else,
        amounts past 28 digits) takes :meth:`update`."""
        marks = self._marks
        if not self._marks_hold(now_ns) or len(equity) != len(marks):
            return self._update_and_mark(now_ns, equity)
        state = self.state
        peaks, latest = state.equity_peak, state.equity
        # Currency by currency, what update() does to it; at the first one this cannot take,
        # update() takes them all (it leaves those done here as they are: the same marks).
        for currency, (raw, scale) in equity.items():
            mark = marks.get(currency)
            if (
                mark is None
                or not -_EXACT_DIGITS < raw < _EXACT_DIGITS
                or not self._mark_holds(currency, mark, scale)
            ):
                return self._update_and_mark(now_ns, equity)
            if raw == mark.last:
                continue  # (as the last call left it: nothing to write, nothing passed)
            peak = raw if raw > mark.peak else mark.peak
            loss_floor, drawdown_floor = mark.loss_floor, mark.drawdown_floor
            if (loss_floor is not None and mark.start - raw > loss_floor) or (
                drawdown_floor is not None and peak - raw > drawdown_floor
            ):
                return self._update_and_mark(now_ns, equity)  # a limit passed: its reasons
            # Below 28 digits, the Decimal as_decimal makes (scaleb is exact there).
            value = Decimal(raw).scaleb(-scale)
            mark.last = raw
            mark.last_dec = latest[currency] = value
            if raw > mark.peak:
                mark.peak = raw
                mark.peak_dec = peaks[currency] = value
        return None

    def headroom(self, now_ns: int, currency: str, scale: int) -> tuple[int, int] | None:
        """``(low, high)``: the raw equities of ``currency`` at ``scale`` that
        :meth:`update_raw` at ``now_ns`` would take as the last call left things, changing
        nothing but the latest equity (no new peak, no limit passed; within 28 digits, where
        the integers are exact). None where it cannot tell: another day, other limits or state,
        marks changed by anyone else, another scale."""
        mark = self._marks.get(currency) if self._marks_hold(now_ns) else None
        if mark is None or not self._mark_holds(currency, mark, scale):
            return None
        # update_raw trips when start - raw > loss_floor or peak - raw > drawdown_floor, and
        # takes a new peak when raw > peak; past 28 digits it takes update() instead.
        low = -_EXACT_DIGITS + 1
        if mark.loss_floor is not None:
            low = max(low, mark.start - mark.loss_floor)
        if mark.drawdown_floor is not None:
            low = max(low, mark.peak - mark.drawdown_floor)
        return low, min(mark.peak, _EXACT_DIGITS - 1)

    def _marks_hold(self, now_ns: int) -> bool:
        """The marks are the trading day's of ``now_ns``, for these limits and this state."""
        return (
            self._marks_from <= now_ns < self._marks_until
            and self._marks_limits is self.limits
            and self._marks_state is self.state
        )

    def _mark_holds(self, currency: str, mark: _Marks, scale: int) -> bool:
        """``mark`` is at ``scale`` and the state's Decimals are the ones it was taken from (no
        one else changed them)."""
        state = self.state
        return (
            mark.scale == scale
            and state.day_start_equity.get(currency) is mark.start_dec
            and state.equity_peak.get(currency) is mark.peak_dec
            and state.equity.get(currency) is mark.last_dec
        )

    def _update_and_mark(self, now_ns: int, equity: RawEquity) -> str | None:
        """:meth:`update`, then the integer marks of what it left (where they are exact)."""
        trip = self.update(now_ns, as_decimal(equity))
        state = self.state
        marks: dict[str, _Marks] = {}
        for currency, (raw, scale) in equity.items():
            start = state.day_start_equity.get(currency)
            peak = state.equity_peak.get(currency)
            last = state.equity.get(currency)
            if (
                start is None
                or peak is None
                or last is None
                or not -_EXACT_DIGITS < raw < _EXACT_DIGITS
            ):
                self._marks_until = 0
                return trip
            start_raw, peak_raw = start.scaleb(scale, EXACT), peak.scaleb(scale, EXACT)
            if (
                start_raw != start_raw.to_integral_value()
                or peak_raw != peak_raw.to_integral_value()
            ):
                self._marks_until = 0  # marks finer than this scale (the scale changed)
                return trip
            marks[currency] = _Marks(
                scale,
                int(start_raw),
                int(peak_raw),
                raw,
                last,
                start,
                peak,
                _floor(self.limits.daily_loss_limit.get(currency), scale),
                _floor(self.limits.max_drawdown.get(currency), scale),
            )
        self._marks = marks
        self._marks_from, self._marks_until = trading_day_span(now_ns)
        self._marks_limits, self._marks_state = self.limits, state
        return trip

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
