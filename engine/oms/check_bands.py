"""Where a periodic risk check can be put off: the marks at which it would change nothing but
the latest equity.

A check (:meth:`Oms._periodic <engine.oms.oms.Oms._periodic>`) sums equity at the held
instruments' marks and hands it to :meth:`PostTradeRisk.update_raw
<engine.risk.post_trade.PostTradeRisk.update_raw>`. While that equity stays at or below the
day's peak and at or above the floors of the loss and drawdown limits, the update only records
it as the latest equity: no new peak, no limit passed. With one instrument's mark moving and
everything else as it was (a backtest's hot loop over one instrument's events, no fill in
between), equity is ``base + k * mark`` for that instrument's mark, so those equities are a
range of marks: :func:`mark_bands`. A check whose mark falls in its band can wait; only the last
such check's latest equity can ever be seen, and :meth:`Oms.settle <engine.oms.oms.Oms.settle>`
records it before anything reads the risk state (a real check, the pump, the hot loop's return).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.domain.positions import Position
from engine.market_state import MarketState
from engine.risk.post_trade import PostTradeRisk, RawEquity


def mark_bands(
    now_ns: int,
    positions: Mapping[str, Position],
    market: MarketState,
    equity: RawEquity,
    marks: Mapping[int, int],
    post_trade: PostTradeRisk,
) -> dict[int, tuple[int, int]]:
    """Market index -> ``(low, high)``: the marks of that held instrument (``marks``: each at
    this check, whose equity was ``equity``) at which a check at ``now_ns``'s trading day would
    change nothing but the latest equity, the other marks and the positions staying as they
    are. Instruments whose band cannot be told are left out."""
    bands: dict[int, tuple[int, int]] = {}
    get = market.get
    for instrument_id, position in positions.items():
        quantity = position.quantity_raw
        state = get(instrument_id)
        if not quantity or state is None:
            continue
        mark = marks.get(state.index)
        if mark is None or mark <= 0:
            continue  # (a mark of 0 counts nothing in equity: not a line in the mark)
        instrument = state.instrument
        currency = instrument.quote_currency
        total, scale = equity[currency]
        room = post_trade.headroom(now_ns, currency, scale)
        if room is None:
            continue
        low, high = room
        # Equity is base + k * mark at this scale (Oms._equity_raw: the position's unrealized
        # part is mark * quantity - cost, scaled up to the currency's largest scale).
        k = quantity * 10 ** (scale - instrument.price_precision - instrument.size_precision)
        base = total - k * mark
        if k > 0:
            bottom = -((base - low) // k)  # ceil((low - base) / k)
            top = (high - base) // k
        else:  # short: equity falls as the mark rises
            down = -k
            bottom = -((high - base) // down)  # ceil((base - high) / -k)
            top = (base - low) // down
        bottom = max(bottom, 1)
        if bottom <= mark <= top:
            bands[state.index] = (bottom, top)
    return bands
