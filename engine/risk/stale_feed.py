"""Feed staleness: an instrument whose market has been silent too long takes no new entries.

Judged from when the engine received the instrument's last market event
(``InstrumentState.ts_recv``) against the time the caller passes in, so a backtest's clock works
the same as the live one. Never from the venue's own timestamp (``ts_event``): a venue clock behind
ours would deny every entry while data flows, one ahead would hide a silent feed.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Protocol

from engine.market_state import InstrumentState
from engine.risk.limits import NS_PER_S


def feed_silence(market: InstrumentState | None, now_ns: int, limit_ns: int) -> str | None:
    """Why the instrument's feed counts as stale at ``now_ns``, or None when it is live."""
    received = (market.ts_recv or market.ts_event) if market is not None else 0
    if market is None or received == 0:
        return "no market data has arrived yet"
    silent_ns = now_ns - received
    if silent_ns > limit_ns:
        return (
            f"no market data for {silent_ns / NS_PER_S:,.1f} seconds "
            f"(the limit is {limit_ns / NS_PER_S:g} seconds)"
        )
    return None


def stale_feeds(markets: Iterable[InstrumentState], now_ns: int, limit_ns: int) -> dict[str, str]:
    """Instrument id -> why its feed is stale, for every silent instrument (for the payload)."""
    stale: dict[str, str] = {}
    for market in markets:
        reason = feed_silence(market, now_ns, limit_ns)
        if reason is not None:
            stale[str(market.instrument.id)] = f"stale feed: {reason}"
    return stale


class FeedCondition(Protocol):
    """What the rule reads of a venue feed's health (``engine.venues.feed_health.FeedHealth``).

    Read-only members, so that a feed's own narrower types (a ``StrEnum`` state, its checked set
    of ids) satisfy it: the rule only looks.
    """

    @property
    def state(self) -> str: ...

    @property
    def resyncing(self) -> Container[str]: ...


_HELD_STATES = {"down": "down, reconnecting", "connecting": "connecting"}


class FeedHolds:
    """Instruments whose feed says their book cannot be trusted right now.

    Read at the moment an order is checked, straight from each feed's health, so an entry can
    never slip in between a sequence gap and the engine hearing of it: a resyncing book, or a
    feed that is down or still connecting, holds every entry on that venue's instruments.
    """

    __slots__ = ("_feeds",)

    def __init__(self) -> None:
        self._feeds: dict[str, FeedCondition] = {}

    def watch(self, venue: str, health: FeedCondition) -> None:
        self._feeds[venue] = health

    def reason(self, instrument_id: str) -> str | None:
        """Why entries on ``instrument_id`` wait, or None."""
        health = self._feeds.get(instrument_id.rpartition(".")[2])
        if health is None:
            return None
        if instrument_id in health.resyncing:
            return "its book is being rebuilt after a gap, a reconnect or a crossed book"
        state = _HELD_STATES.get(str(health.state))
        if state is not None:
            return f"the venue's feed is {state}"
        return None

    def all(self, instrument_ids: Iterable[str]) -> dict[str, str]:
        """Instrument id -> reason, for every held one of ``instrument_ids`` (for the payload)."""
        held: dict[str, str] = {}
        for instrument_id in instrument_ids:
            reason = self.reason(instrument_id)
            if reason is not None:
                held[instrument_id] = f"stale feed: {reason}"
        return held
