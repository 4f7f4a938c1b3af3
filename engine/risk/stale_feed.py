"""Feed staleness: an instrument whose market has been silent too long takes no new entries.

Judged from the instrument's last market event (``InstrumentState.ts_event``) against the time
the caller passes in, so a backtest's clock works the same as the live one.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.market_state import InstrumentState
from engine.risk.limits import NS_PER_S


def feed_silence(market: InstrumentState | None, now_ns: int, limit_ns: int) -> str | None:
    """Why the instrument's feed counts as stale at ``now_ns``, or None when it is live."""
    if market is None or market.ts_event == 0:
        return "no market data has arrived yet"
    silent_ns = now_ns - market.ts_event
    if silent_ns > limit_ns:
        return (
            f"no market data for {silent_ns / NS_PER_S:,.1f} seconds "
            f"(the limit is {limit_ns / NS_PER_S:g} seconds)"
        )
    return None


def stale_feeds(markets: Iterable[InstrumentState], now_ns: int, limit_ns: int) -> dict[str, str]:
    """Instrument id -> why its feed is stale, for every silent instrument (for the payload)."""
    stale = {}
    for market in markets:
        reason = feed_silence(market, now_ns, limit_ns)
        if reason is not None:
            stale[str(market.instrument.id)] = f"stale feed: {reason}"
    return stale
