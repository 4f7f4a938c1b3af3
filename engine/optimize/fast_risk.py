"""The pre-trade risk rules as they apply to the two-moving-average fast path.

:class:`~engine.risk.pre_trade.PreTradeRisk` checks every order against the OMS's whole view. The
fast path has no OMS, so this module re-states the rules for the only orders the strategy sends
(a market buy when flat, a market sell of the whole long), in the same order and with the same
numbers. Rules that need state the fast path does not keep (gross exposure, the free cash
balance, the post-trade kill switch) are not evaluated: instead :class:`FastRisk` proves they
cannot bind, from conservative bounds, and raises :class:`FastPathUnsupported` when it cannot.
"""

from __future__ import annotations

from decimal import Decimal

from engine.config.settings import Settings
from engine.domain.fees import FeeRate
from engine.domain.fixed_point import floor_raw, from_raw
from engine.market_state import InstrumentState
from engine.optimize.fast_signals import FastPathUnsupported
from engine.risk.limits import RiskLimits
from engine.risk.money import notional_scale
from engine.risk.rate_limit import SlidingWindowLimiter

LOCK_MARGIN = 2
"""Cash an open buy may hold, as a multiple of its value (see ``Oms.lock_price``)."""


class FastRisk:
    """One parameter set's view of the risk rules (see the module docstring).

    Money is compared as integers at ``scale`` (the largest of the instruments' price plus size
    precisions): an order's raw ``price * quantity`` times its instrument's factor. Limits are
    floored (``value > limit``) or ceiled (``value < minimum``) to that grid, which keeps every
    comparison exact for integer values.
    """

    def __init__(self, limits: RiskLimits, currency: str, initial: Decimal, scale: int) -> None:
        self.limits = limits
        self.scale = scale
        self.rate = SlidingWindowLimiter(limits.max_orders_per_second)
        self.max_order = floor_raw(limits.max_order_notional[currency], scale)
        self.max_position = floor_raw(limits.max_position_notional[currency], scale)
        self.max_gross = floor_raw(limits.max_gross_exposure[currency], scale)
        self.loss_limit = min(limits.daily_loss_limit[currency], limits.max_drawdown[currency])
        self.cash_raw = floor_raw(initial, scale)
        """Cash after every fill so far (quote currency, at ``scale``)."""
        self.realized_raw = 0
        self.realized_peak_raw = 0
        self.realized_drawdown_raw = 0
        self._rules: dict[int, tuple[int, int, FeeRate]] = {}
        """Per instrument index: (factor to ``scale``, minimum notional ceiled, taker fee)."""

    def rules(self, state: InstrumentState) -> tuple[int, int, FeeRate]:
        rules = self._rules.get(state.index)
        if rules is None:
            instrument = state.instrument
            factor = 10 ** (self.scale - notional_scale(instrument))
            minimum = -floor_raw(-instrument.min_notional, self.scale)
            rules = self._rules[state.index] = (factor, minimum, FeeRate(instrument.taker_fee))
        return rules

    def buy_denied(
        self,
        state: InstrumentState,
        quantity: int,
        now: int,
        open_orders: int,
        exposure_raw: int,
        locked_raw: int,
    ) -> bool:
        """Whether risk denies a market buy of ``quantity`` (an entry: the strategy is flat).

        ``exposure_raw`` bounds the other instruments' positions and orders at their highest
        prices (for the gross-exposure proof), ``locked_raw`` their working buys (for the
        balance proof: cash already paid for the positions).
        """
        limits = self.limits
        if quantity <= 0 or quantity % state.instrument.lot_size_raw:
            return True
        if state.ts_event == 0 or now - state.ts_event > limits.stale_feed_ns:
            return True
        price = state.best_ask
        if price <= 0:
            return True
        factor, minimum, fee_rate = self.rules(state)
        value = price * quantity * factor
        if value < minimum or value > self.max_order or value > self.max_position:
            return True
        if value + exposure_raw > self.max_gross:
            raise FastPathUnsupported(
                f"gross exposure could reach {from_raw(value + exposure_raw, self.scale)}, near "
                f"the limit {from_raw(self.max_gross, self.scale)}"
            )
        if open_orders >= limits.max_open_orders or not self.rate.allows(now):
            return True
        cost = (price * quantity + fee_rate.fee_raw(price * quantity)) * factor
        # Open buys lock up to the price band's edge; LOCK_MARGIN covers the band and fees.
        if cost + locked_raw * LOCK_MARGIN > self.cash_raw:
            raise FastPathUnsupported(
                f"a buy of {from_raw(cost, self.scale)} could exceed the free cash "
                f"{from_raw(self.cash_raw, self.scale)}"
            )
        self.rate.record(now)
        return False

    def sell_denied(
        self, state: InstrumentState, quantity: int, now: int, open_orders: int
    ) -> bool:
        """Whether risk denies a market sell of the whole long ``quantity`` (reducing only)."""
        if quantity <= 0 or quantity % state.instrument.lot_size_raw:
            return True
        price = state.best_bid
        if price <= 0:
            return True
        factor, minimum, _ = self.rules(state)
        if price * quantity * factor < minimum:
            return True
        if open_orders >= self.limits.max_open_orders or not self.rate.allows(now):
            return True
        self.rate.record(now)
        return False

    def on_fill(self, factor: int, buy: bool, price: int, quantity: int, fee: int,
                realized_raw: int) -> None:  # fmt: skip
        """Keep cash and the realized-equity drawdown (for the kill-switch proof)."""
        value = price * quantity * factor
        self.cash_raw += (-value if buy else value) - fee * factor
        realized = self.realized_raw = self.realized_raw + (realized_raw - fee) * factor
        if realized > self.realized_peak_raw:
            self.realized_peak_raw = realized
        elif self.realized_peak_raw - realized > self.realized_drawdown_raw:
            self.realized_drawdown_raw = self.realized_peak_raw - realized

    def prove_no_kill(self, unrealized_bound_raw: int) -> None:
        """The post-trade kill switch (daily loss, drawdown) trips on equity; equity is the
        realized curve plus open positions, so this bound proves it never tripped."""
        bound = from_raw(self.realized_drawdown_raw + unrealized_bound_raw, self.scale)
        if bound >= self.loss_limit:
            raise FastPathUnsupported(
                f"losses could reach {bound}, at the daily loss or drawdown limit "
                f"{self.loss_limit}: the kill switch may have tripped"
            )


def check_settings(settings: Settings, currency: str) -> RiskLimits:
    """The engine's limits, or FastPathUnsupported for a configuration the fast path does not
    reproduce (protective exits, a currency without limits)."""
    limits = RiskLimits.from_settings(settings.risk)
    exits = limits.exits
    if exits.stop_loss_pct or exits.take_profit_pct or exits.trailing_stop_pct:
        raise FastPathUnsupported("the engine's protective exits ([risk] *_pct) are on")
    missing = limits.missing_limits(currency)
    if missing:
        raise FastPathUnsupported(f"{currency} has no risk limit for {', '.join(missing)}")
    return limits
