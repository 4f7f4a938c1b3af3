"""The time window a backtest replays: ``--from``/``--to`` as dates or date-times in a stated zone.

- ``YYYY-MM-DD`` is a whole day in the zone: ``--from`` starts at its midnight, ``--to`` takes the
  day in full (up to the next midnight).
- ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` (a space may stand for ``T``) is that wall-clock time in the
  zone; ``--to`` is exclusive (events before that instant).
- An explicit offset in the text (``+09:00``, ``Z``) wins over the zone.

The zone defaults to UTC, the store's partition zone, so plain dates select the same whole UTC days
as before; ``--tz Asia/Seoul`` makes ``--from 2026-01-05`` mean midnight in Seoul.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["TimeRange", "parse_time_range"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start_ns, end_ns)`` in ns UTC; None is open on that side."""

    start_ns: int | None = None
    end_ns: int | None = None

    @property
    def first_day(self) -> date | None:
        """The first UTC day (the store's partition) the window touches."""
        return None if self.start_ns is None else _utc_day(self.start_ns)

    @property
    def last_day(self) -> date | None:
        """The last UTC day the window touches (its end is exclusive)."""
        return None if self.end_ns is None else _utc_day(self.end_ns - 1)


def parse_time_range(start: str | None, end: str | None, tz: str = "UTC") -> TimeRange:
    """The window for ``start``/``end`` texts in zone ``tz``; ValueError names the bad field."""
    zone = _zone(tz)
    start_ns = None if start is None else _instant(start, zone, "start", end_of_day=False)
    end_ns = None if end is None else _instant(end, zone, "end", end_of_day=True)
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise ValueError(f"end {end!r} is not after start {start!r} (zone {tz})")
    return TimeRange(start_ns, end_ns)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"tz {tz!r} is not a known time zone (an IANA name such as UTC or Asia/Seoul)"
        ) from None


def _instant(text: str, zone: ZoneInfo, field: str, *, end_of_day: bool) -> int:
    stripped = text.strip()
    if len(stripped) == 10:
        try:
            day = date.fromisoformat(stripped)
        except ValueError:
            raise ValueError(f"{field} {text!r} is not YYYY-MM-DD") from None
        if end_of_day:
            day += timedelta(days=1)
        moment = datetime.combine(day, time(0), tzinfo=zone)
    else:
        try:
            moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{field} {text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM[:SS]"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    # Whole microseconds: exact integer arithmetic, no float seconds.
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000


def _utc_day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns // _NS, UTC).date()
