"""The engine's risk rules over the vector path's orders: proved never to fire, or a refusal.

A full backtest checks every order with :class:`~engine.risk.pre_trade.PreTradeRisk` and runs
the post-trade kill switch every 100 ms of replay time. The vector path has no OMS, so it does
not imitate a denial: it shows, from each order's numbers, that no rule could have denied it,
and that losses never came near the kill switch's limits. Where it cannot show that, it raises
:class:`~engine.optimize.vector_signals.VectorRefusal` naming the rule (the trial then runs on
the event path, which applies the rule for real).

What holds by construction (one instrument, one order at a time, orders decided on the
instrument's own trade): no other open order, no other position, a feed that just delivered a
trade (never stale).
"""

from __future__ import annotations

from decimal import Decimal

from engine.config.settings import Settings
from engine.domain.fees import FeeRate
from engine.domain.fixed_point import floor_raw, from_raw
from engine.domain.instrument import Instrument
from engine.optimize.vector_signals import VectorRefusal
from engine.risk.limits import RiskLimits
from engine.risk.rate_limit import SlidingWindowLimiter

LOCK_MARGIN = 2
"""A buy must cost at most the free cash over this: the account's lock and fee estimates are
not restated here, so the proof keeps a wide margin instead."""


def check_settings(settings: Settings, currency: str) -> RiskLimits:
    """The engine's limits, or VectorRefusal for a configuration the vector path does not
    reproduce (protective exits, a currency without limits, no room for one open order)."""
    limits = RiskLimits.from_settings(settings.risk)
    exits = limits.exits
    if exits.stop_loss_pct or exits.take_profit_pct or exits.trailing_stop_pct:
        raise VectorRefusal("the engine's protective exits ([risk] *_pct) are on")
    missing = limits.missing_limits(currency)
    if missing:
        raise VectorRefusal(f"{currency} has no risk limit for {', '.join(missing)}")
    if limits.max_open_orders < 1:
        raise VectorRefusal("[risk] max_open_orders allows no order")
    if limits.stale_feed_ns < 0:
        raise VectorRefusal("[risk] stale feed limit is negative")
    return limits


class RiskProof:
    """One parameter set's walk through its orders (in decision order).

    Money is compared in raw integers at the instrument's notional scale: limits floored
    (``value > limit``) and minimums ceiled (``value < minimum``) to that grid, which keeps each
    comparison exact for integer values; the cash is floored (a proof that errs towards
    refusing).
    """

    def __init__(self, limits: RiskLimits, instrument: Instrument, initial: Decimal) -> None:
        self.limits = limits
        self.instrument = instrument
        currency = self.currency = instrument.quote_currency
        scale = self.scale = instrument.price_precision + instrument.size_precision
        self.rate = SlidingWindowLimiter(limits.max_orders_per_second)
        self.fee_rate = FeeRate(instrument.taker_fee)
        self.min_notional = -floor_raw(-instrument.min_notional, scale)
        self.max_order = floor_raw(limits.max_order_notional[currency], scale)
        self.max_position = floor_raw(limits.max_position_notional[currency], scale)
        self.max_gross = floor_raw(limits.max_gross_exposure[currency], scale)
        self.loss_limit = floor_raw(
            min(limits.daily_loss_limit[currency], limits.max_drawdown[currency]), scale
        )
        self.cash = floor_raw(initial, scale)
        self.realized = 0
        self.peak = 0
        self.drawdown = 0
        self.largest = 0
        """Largest position held (raw), for the unrealized-loss bound."""

    def order(self, buy: bool, price: int, quantity: int, now: int, trade: int) -> None:
        """An order sent at ``now`` valued at ``price`` (the best opposite price then)."""
        where = f"at trade {trade}"
        if quantity <= 0 or quantity % self.instrument.lot_size_raw:
            raise VectorRefusal(f"rule lot could deny the order {where}")
        if price <= 0:
            raise VectorRefusal(f"rule price_band (empty side) could deny the order {where}")
        value = price * quantity
        if value < self.min_notional:
            raise VectorRefusal(f"rule min_notional could deny the order {where}")
        if buy:
            if value > self.max_order:
                raise VectorRefusal(f"rule max_order_notional could deny the order {where}")
            if value > self.max_position:
                raise VectorRefusal(f"rule max_position could deny the order {where}")
            if value > self.max_gross:
                raise VectorRefusal(f"rule max_gross_exposure could deny the order {where}")
            if (value + self.fee_rate.fee_raw(value)) * LOCK_MARGIN > self.cash:
                raise VectorRefusal(f"rule balance could deny the order {where}")
            self.largest = max(self.largest, quantity)
        if not self.rate.allows(now):
            raise VectorRefusal(f"rule rate_limit could deny the order {where}")
        self.rate.record(now)

    def fill(self, buy: bool, price: int, quantity: int, fee: int, realized: int) -> None:
        """Keep the cash and the realized-equity drawdown (``realized``: the fill's realized
        PnL, raw, before fees)."""
        value = price * quantity
        self.cash += (-value if buy else value) - fee
        self.realized += realized - fee
        self.peak = max(self.peak, self.realized)
        self.drawdown = max(self.drawdown, self.peak - self.realized)

    def prove_no_kill(self, price_span: int) -> None:
        """The kill switch trips on equity (realized plus open positions at their marks) falling
        by the daily loss or drawdown limit; both moves are bounded by the realized drawdown
        plus twice the largest position times the range of marks."""
        bound = self.drawdown + 2 * price_span * self.largest
        if bound >= self.loss_limit:
            raise VectorRefusal(
                f"losses could reach {from_raw(bound, self.scale)}, at the daily loss or "
                f"drawdown limit {from_raw(self.loss_limit, self.scale)}: the kill switch may "
                "have tripped"
            )
