"""Opening-range breakout: buy when the price leaves the session's first minutes' range upward.

Idea
    The session opens ``session_start_min`` minutes after midnight UTC (0 is 09:00 in Seoul,
    KRX's open; crypto trades around the clock, so any minute works). For the first
    ``range_min`` minutes, record the highest and lowest trade. The first trade above that high
    afterwards is a breakout: buy ``order_value`` worth at market, once per session.

Parameters
    session_start_min   session open, minutes after 00:00 UTC
    range_min           minutes of the opening range
    target_multiple     take profit at the range high plus this many range heights
    order_value         value of the entry, in the quote currency
    stop_loss_bps       also exit this many basis points below the entry (beside the range low)
    max_hold_s          exit after this many seconds in any case (0: never)

Exits
    The target, a trade back at or below the range low, the stop-loss, or time: a market sell of
    the whole position. Long only; at most one entry per instrument and session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.domain.orders import Order
from engine.strategy.api import Param, Strategy, StrategyContext, StrategyFill
from engine.strategy.bracket import Bracket
from engine.strategy.sizing import quantity_for_value

NS_PER_MIN = 60_000_000_000
NS_PER_DAY = 1_440 * NS_PER_MIN


class OpeningRange(Strategy):
    """Buy the first break above the opening range; exit at the target, the range low or time."""

    session_start_min = Param(0, low=0, high=1_439, step=1, doc="session open, min after UTC 0h")
    range_min = Param(15, low=1, high=120, step=1, doc="minutes of the opening range")
    target_multiple = Param(1.0, low=0.25, high=5.0, step=0.25, doc="target, range heights")
    order_value = Param(100_000.0, low=5_000.0, high=10_000_000.0, step=5_000.0, doc="per entry")
    stop_loss_bps = Param(50.0, low=2.0, high=500.0, step=2.0, doc="stop-loss, bps")
    max_hold_s = Param(3_600.0, low=0.0, high=86_400.0, step=60.0, doc="longest hold, s")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        # take_profit_bps is effectively off: the target comes from the range.
        self.bracket = Bracket(1e9, self.stop_loss_bps, self.max_hold_s)
        self.session: dict[int, int] = {}
        """Instrument -> start (ns) of the session its range belongs to."""
        self.high: dict[int, int] = {}
        self.low: dict[int, int] = {}
        self.entered: dict[int, bool] = {}

    def session_start(self, ts: int) -> int:
        offset = self.session_start_min * NS_PER_MIN
        return ts - (ts - offset) % NS_PER_DAY

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        start = self.session_start(ts)
        if self.session.get(i) != start:
            self.session[i] = start
            self.high[i] = self.low[i] = 0
            self.entered[i] = False
        ctx, bracket = self.ctx, self.bracket
        if ts < start + self.range_min * NS_PER_MIN:
            high, low = self.high[i], self.low[i]
            self.high[i] = max(high, price)
            self.low[i] = price if not low else min(low, price)
            return
        high, low = self.high[i], self.low[i]
        if not high or bracket.busy(i):
            return  # no trade in the opening range: no range to break
        if ctx.position(i) > 0:
            target = high + (high - low) * self.target_multiple
            if price >= target or price <= low or bracket.exit_reason(i, price, ts):
                bracket.sent(ctx, i, ctx.close_position(i))
            return
        if price > high and not self.entered[i]:
            ask = ctx.best_ask(i) or price  # a market buy pays the ask
            quantity = quantity_for_value(ctx.instrument(i), ask, self.order_value)
            if quantity > 0:
                self.entered[i] = True
                bracket.sent(ctx, i, ctx.buy(i, quantity))

    def on_fill(self, fill: StrategyFill) -> None:
        self.bracket.on_fill(self.ctx, fill)

    def on_order(self, order: Order) -> None:
        self.bracket.on_order(self.ctx, order)

    def save_state(self) -> dict[str, Any]:
        state = self.bracket.save(self.ctx)
        state["ranges"] = {
            str(self.ctx.instrument(i).id): [start, self.high[i], self.low[i], self.entered[i]]
            for i, start in self.session.items()
        }
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.bracket.load(self.ctx, state)
        for instrument_id, (start, high, low, entered) in dict(state.get("ranges") or {}).items():
            try:
                i = self.ctx.index_of(instrument_id)
            except ValueError:
                continue
            self.session[i], self.high[i], self.low[i] = int(start), int(high), int(low)
            self.entered[i] = bool(entered)
