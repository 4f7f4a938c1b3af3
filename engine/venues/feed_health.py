"""A venue feed's condition: state, incident counters, books being rebuilt, the venue's clock.

Every adapter keeps one :class:`FeedHealth`; the engine publishes it at ``md/feeds`` once a second
and the stale-feed risk rule reads it when it checks an order. Two things here are strict on
purpose, because they once broke the engine or misled the trader:

- :class:`InstrumentIds` (``FeedHealth.resyncing``) holds plain ``str`` only. An adapter that adds
  an :class:`~engine.domain.ids.InstrumentId` (a ``str`` subclass msgspec will not encode) gets a
  plain copy stored, so the 1 Hz health publish can never fail on it.
- :class:`VenueClock` measures the venue's clock against ours from the venue's own timestamps. It
  is shown, never used to judge staleness: staleness is judged by our receive time alone
  (``InstrumentState.ts_recv``), so a venue whose clock is off neither blocks entries while data
  flows nor hides a silent feed.

:meth:`FeedHealth.incident` is the one way an adapter reports something that happened to its feed:
the line goes to ``stom.venues.<venue>`` (the engine's configured logging, its log file and the
console's log pane) and becomes ``last_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self


class FeedState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RESYNCING = "resyncing"
    """Connected, but a book is being rebuilt (a gap, a crossed book): entries on it wait."""
    DOWN = "down"


class InstrumentIds(set[str]):
    """A set of instrument ids stored as exact ``str`` (see the module docstring).

    A ``set`` (readers compare and sort it like one); every method that can put a value in is
    overridden to store a plain copy of it.
    """

    __slots__ = ()

    def __init__(self, ids: Iterable[str] = ()) -> None:
        super().__init__()
        self.update(ids)

    def add(self, value: str) -> None:
        super().add(_plain(value))

    def update(self, *others: Iterable[str]) -> None:
        for values in others:
            for value in values:
                super().add(_plain(value))

    def __ior__(self, other: AbstractSet[str]) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def symmetric_difference_update(self, other: Iterable[str]) -> None:
        values = InstrumentIds(other)
        super().symmetric_difference_update(values)

    def __ixor__(self, other: AbstractSet[str]) -> Self:  # type: ignore[override,misc]
        self.symmetric_difference_update(other)
        return self


def _plain(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"an instrument id is a str, not {type(value).__name__}: {value!r}")
    # str.__str__ of a subclass instance returns an exact str with the same text.
    return value if type(value) is str else str.__str__(value)


WINDOW_NS = 5_000_000_000
"""How long one venue-clock measurement window lasts."""
SETTLE_NS = 1_000_000_000
"""A window younger than this is not reported yet (the previous one is)."""


class VenueClock:
    """The venue's clock minus ours, from (venue timestamp, our receive time) pairs.

    Each sample is ``venue_ts - received``: the true offset minus that message's network and
    queueing delay. The largest sample of a window is the least delayed one, so it is the best
    estimate of the offset (the same idea NTP's minimum-delay filter uses). Windows restart every
    :data:`WINDOW_NS`, so a venue whose clock is stepped is followed within one window.
    """

    __slots__ = ("_best", "_previous", "_start")

    def __init__(self) -> None:
        self._start = 0
        self._best: int | None = None
        self._previous: int | None = None

    def observe(self, venue_ns: int, received_ns: int) -> None:
        sample = venue_ns - received_ns
        if received_ns - self._start >= WINDOW_NS:
            if self._best is not None:
                self._previous = self._best
            self._start = received_ns
            self._best = sample
        elif self._best is None or sample > self._best:
            self._best = sample

    def offset_ns(self, now_ns: int) -> int | None:
        """The measured offset (positive: the venue's clock is ahead), None before any sample."""
        if self._best is None:
            return self._previous
        if self._previous is not None and now_ns - self._start < SETTLE_NS:
            return self._previous
        return self._best

    def reset(self) -> None:
        self._start = 0
        self._best = self._previous = None


@dataclass(slots=True)
class FeedHealth:
    """A feed's condition, shown per feed in the app and read by the stale-feed risk rule."""

    venue: str
    state: FeedState = FeedState.CONNECTING
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    """Connections lost or closed (by either side), each followed by a reconnect."""
    last_message_ns: int = 0
    """Engine clock time of the last message of any kind (0: none yet)."""
    gaps: int = 0
    """Sequence gaps or stalls detected (each forced a book resync)."""
    malformed: int = 0
    """Frames that could not be parsed (logged, counted, skipped)."""
    crossed: int = 0
    """Books that arrived crossed or locked (bid >= ask): each was dropped and resynced."""
    last_error: str = ""
    resyncing: InstrumentIds = field(default_factory=InstrumentIds)
    """Instrument ids whose book is being rebuilt right now (exact ``str`` only)."""
    clock: VenueClock = field(default_factory=VenueClock)
    """The venue's clock against ours (shown in ``md/feeds``; never used for staleness)."""
    crossed_reports: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    """Per instrument id: (monotonic ns of its last crossed-book warning, crossings since)."""
    adapter: str = ""
    """The adapter's package name, for its logger ``stom.venues.<adapter>`` (empty: the venue
    code in lower case; Kiwoom's venue is ``KRX``)."""

    def __setattr__(self, name: str, value: object) -> None:
        # Replacing the set (``health.resyncing = {...}``) must not bypass its type check.
        if name == "resyncing" and not isinstance(value, InstrumentIds):
            value = InstrumentIds(value)  # type: ignore[arg-type]
        object.__setattr__(self, name, value)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"stom.venues.{self.adapter or self.venue.lower()}")

    def incident(self, level: int, message: str, *, error: bool = True) -> None:
        """Log ``message`` under ``stom.venues.<venue>``; it becomes ``last_error`` unless
        ``error`` is False (an expected event: a planned reconnect, a clean close)."""
        if error:
            self.last_error = message
        self.log.log(level, "%s feed: %s", self.venue, message)

    def book_crossed(self, instrument_id: str, detail: str, now_ns: int) -> None:
        """A book arrived crossed or locked: counted, resyncing, and warned about at most once
        a minute per instrument. A KRX call auction (08:30-09:00, 15:20-15:30 KST) can show a
        crossed book on every ``0D``: one line a minute says so, the count says how often."""
        self.crossed += 1
        self.resyncing.add(instrument_id)
        report = self.crossed_reports.get(instrument_id)
        quiet = report[1] if report is not None else 0
        if report is not None and now_ns - report[0] < CROSSED_REPORT_EVERY_NS:
            self.crossed_reports[instrument_id] = (report[0], quiet + 1)
            self.log.debug("%s feed: %s", self.venue, detail)
            return
        self.crossed_reports[instrument_id] = (now_ns, 0)
        again = f" ({quiet} more times since the last report)" if quiet else ""
        self.incident(logging.WARNING, detail + again)

    def malformed_frame(self, why: str, frame: bytes | str) -> None:
        """Count, record and log a skipped frame, saying what was wrong and how it started."""
        self.malformed += 1
        self.incident(
            logging.WARNING,
            f"malformed frame skipped ({why}; {self.malformed} so far): {excerpt(frame)}",
        )

    def went_down(self, why: str, *, expected: bool = False) -> None:
        """The connection is gone: counted, and logged (a warning unless it was ``expected``)."""
        self.disconnects += 1
        self.incident(logging.INFO if expected else logging.WARNING, f"disconnected: {why}",
                      error=not expected)  # fmt: skip

    def connected(self) -> None:
        """A connection is up: counted, and a reconnect logged."""
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
            self.log.info("%s feed: reconnected (reconnect %d)", self.venue, self.reconnects)


EXCERPT_CHARS = 120
CROSSED_REPORT_EVERY_NS = 60_000_000_000


def excerpt(frame: bytes | str) -> str:
    """The start of a frame, printable, for a log line (public market data only)."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    text = text.replace("\n", " ")
    return repr(text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else ""))
