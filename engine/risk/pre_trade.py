"""Pre-trade risk: every order passes these rules, in order, before it leaves the engine.

The first failing rule denies the order with a :class:`Denial` (the rule's name and a sentence
with the numbers). Orders that only reduce a position pass the kill switch and a stale feed, and
skip the size limits (order value, position, gross exposure), so the user can always get out:
a flatten larger than ``max_order_notional`` must not be refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from engine.domain.fees import FeeRate
from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderSide, OrderSubmitted, OrderType
from engine.market_state import InstrumentState
from engine.risk.exposure import double_mark, gross_exposure
from engine.risk.limits import RiskLimits
from engine.risk.money import (
    add,
    grouped,
    money,
    notional,
    notional_scale,
    percent_above_text,
    price_text,
    size_text,
)
from engine.risk.rate_limit import SlidingWindowLimiter
from engine.risk.stale_feed import FeedHolds, feed_silence
from engine.risk.state import RiskState
from engine.risk.view import RiskView

RULES = (
    "kill_switch",
    "disk_full",
    "not_armed",
    "instrument",
    "quantity",
    "lot",
    "tick",
    "stale_feed",
    "price_band",
    "min_notional",
    "no_limit",
    "max_order_notional",
    "max_position",
    "max_gross_exposure",
    "max_open_orders",
    "rate_limit",
    "balance",
)
"""Rule names in the order they are checked (``Denial.rule`` is one of these)."""


@dataclass(frozen=True, slots=True)
class Denial:
    """Why risk refused an order: the rule's name and a full sentence with the numbers."""

    rule: str
    reason: str


def venue_of(instrument_id: str) -> str:
    """``KRW-BTC.UPBIT`` -> ``UPBIT``."""
    return instrument_id.rpartition(".")[2]


class PreTradeRisk:
    """Checks one order at a time against the limits, the state and the OMS's view."""

    def __init__(
        self,
        limits: RiskLimits,
        state: RiskState,
        *,
        allow_short: bool,
        live_venues: frozenset[str] = frozenset(),
    ) -> None:
        self.limits = limits
        self.state = state
        self.allow_short = allow_short
        self.live_venues = live_venues
        """Venues that send real orders; they need arming. The paper venue (SIM) is not one."""
        self.feed_holds = FeedHolds()
        """Venue feeds whose resyncing books (or outage) hold entries; the node registers them."""
        self.disk_full: str | None = None
        """Why the journal's disk is full (engine/journal/degraded.py): entries wait, exits go."""
        self.rate = SlidingWindowLimiter(limits.max_orders_per_second)
        self._band = Fraction(limits.price_band_pct) / 100
        """The price band as an exact fraction of the reference price."""

    def is_entry(self, order: OrderSubmitted, view: RiskView) -> bool:
        """False when the order only reduces a position (sell <= long, buy <= short quantity)."""
        position = view.position(order.instrument_id)
        held = position.quantity_raw if position is not None else 0
        if order.side is OrderSide.SELL:
            return not 0 < order.quantity_raw <= held
        return not 0 < order.quantity_raw <= -held

    def check(self, order: OrderSubmitted, view: RiskView, now_ns: int) -> Denial | None:
        """The first failing rule's denial, or None; a passing order counts toward the rate."""
        entry = self.is_entry(order, view)
        denial = self._gates(order, entry)
        if denial is not None:
            return denial
        instrument = view.instrument(order.instrument_id)
        if instrument is None:
            return Denial("instrument", f"instrument {order.instrument_id} is not known")
        market = view.market(order.instrument_id)
        denial = self._shape(order, instrument) or (
            self._stale(order, market, now_ns) if entry else None
        )
        if denial is not None:
            return denial
        priced = self._price(order, instrument, market)
        if isinstance(priced, Denial):
            return priced
        open_orders = list(view.open_orders())
        denial = (
            self._value(order, instrument, priced, view, open_orders, entry)
            or self._flow(open_orders, now_ns)
            or self._balance(order, instrument, priced, view)
        )
        if denial is None:
            self.rate.record(now_ns)
        return denial

    # --- rules, grouped in check order --------------------------------------------------------

    def _gates(self, order: OrderSubmitted, entry: bool) -> Denial | None:
        """``kill_switch``, ``disk_full``, ``not_armed``."""
        state = self.state
        if state.kill_switch and entry:
            return Denial(
                "kill_switch",
                f"the kill switch is on ({state.kill_reason or 'no reason given'}): only orders "
                f"that reduce a position are allowed",
            )
        if self.disk_full is not None and entry:
            return Denial(
                "disk_full",
                f"new entries are refused: {self.disk_full}; only orders that reduce a position"
                " are allowed",
            )
        venue = venue_of(order.instrument_id)
        if venue in self.live_venues and venue not in state.armed_venues:
            return Denial(
                "not_armed",
                f"venue {venue} sends real orders and is not armed: arm it before trading",
            )
        return None

    def _shape(self, order: OrderSubmitted, instrument: Instrument) -> Denial | None:
        """``quantity``, ``lot``, ``tick``: the order fits the instrument's grid."""
        quantity = order.quantity_raw
        base = instrument.base_currency
        if quantity <= 0:
            return Denial(
                "quantity", f"quantity {size_text(quantity, instrument)} {base} is not positive"
            )
        lot = instrument.lot_size_raw
        if quantity % lot:
            return Denial(
                "lot",
                f"quantity {size_text(quantity, instrument)} {base} is not a multiple of the lot "
                f"size {size_text(lot, instrument)} {base}",
            )
        if order.order_type is OrderType.LIMIT:
            price = order.price_raw
            table = instrument.tick_table
            if price < table.min_price_raw:
                return Denial(
                    "tick",
                    f"price {price_text(price, instrument)} is below the lowest price on the "
                    f"tick grid, {price_text(table.min_price_raw, instrument)}",
                )
            if not table.is_on_grid(price):
                return Denial(
                    "tick",
                    f"price {price_text(price, instrument)} is off the tick grid (tick "
                    f"{price_text(table.tick_at(price), instrument)} at this price)",
                )
        return None

    def _stale(
        self, order: OrderSubmitted, market: InstrumentState | None, now_ns: int
    ) -> Denial | None:
        """``stale_feed`` (entries only)."""
        paused = self.state.paused.get(order.instrument_id)
        if paused is not None:
            return Denial("stale_feed", f"entries on {order.instrument_id} are paused: {paused}")
        held = self.feed_holds.reason(order.instrument_id)
        if held is not None:
            return Denial("stale_feed", f"entries on {order.instrument_id} wait: {held}")
        silence = feed_silence(market, now_ns, self.limits.stale_feed_ns)
        if silence is not None:
            return Denial("stale_feed", f"{order.instrument_id}: {silence}")
        return None

    def _price(
        self, order: OrderSubmitted, instrument: Instrument, market: InstrumentState | None
    ) -> int | Denial:
        """``price_band``; returns the price the order is valued at when it passes.

        A limit order is valued at its limit; a market order at the best opposite price, which
        must exist (a market order into an empty side would fill at any price).
        """
        if order.order_type is OrderType.MARKET:
            opposite = 0
            if market is not None:
                opposite = market.best_ask if order.side is OrderSide.BUY else market.best_bid
            if opposite <= 0:
                side = "asks" if order.side is OrderSide.BUY else "bids"
                return Denial(
                    "price_band",
                    f"a market {order.side.value} on {order.instrument_id} has no {side} in the "
                    f"book to fill against",
                )
            return opposite
        mark2 = double_mark(market)
        if mark2 == 0:
            return Denial(
                "price_band",
                f"{order.instrument_id} has no last trade and no two-sided book to check the "
                f"price {price_text(order.price_raw, instrument)} against",
            )
        # |price - ref| / ref with ref = mark2 / 2, kept exact as a fraction.
        deviation = Fraction(abs(2 * order.price_raw - mark2), mark2)
        if deviation > self._band:
            assert market is not None  # mark2 > 0 needs a market
            reference = (
                f"the last trade {price_text(market.last_price, instrument)}"
                if market.last_price > 0
                else f"the mid {_mid_text(mark2, instrument)}"
            )
            return Denial(
                "price_band",
                f"price {price_text(order.price_raw, instrument)} is "
                f"{percent_above_text(deviation * 100)}% from {reference} (the band is "
                f"{grouped(self.limits.price_band_pct)}%)",
            )
        return order.price_raw

    def _value(
        self,
        order: OrderSubmitted,
        instrument: Instrument,
        price: int,
        view: RiskView,
        open_orders: list[Order],
        entry: bool,
    ) -> Denial | None:
        """``min_notional``, ``no_limit``, ``max_order_notional``, ``max_position``,
        ``max_gross_exposure`` (the last three for entries only)."""
        currency = instrument.quote_currency
        value = notional(price, order.quantity_raw, instrument)
        if value < instrument.min_notional:
            return Denial(
                "min_notional",
                f"order value {money(value, currency)} is below the minimum "
                f"{money(instrument.min_notional, currency)}",
            )
        missing = self.limits.missing_limits(currency)
        if missing:
            return Denial(
                "no_limit",
                f"{currency} has no risk limit for {', '.join(missing)}: set it in [risk] to "
                f"trade {order.instrument_id}",
            )
        if not entry:
            return None
        limit = self.limits.max_order_notional[currency]
        if value > limit:
            return Denial(
                "max_order_notional",
                f"order value {money(value, currency)} exceeds the limit {money(limit, currency)}",
            )
        return self._position_limit(order, instrument, price, view, open_orders) or (
            self._exposure_limit(order, instrument, value, view, open_orders)
        )

    def _position_limit(
        self,
        order: OrderSubmitted,
        instrument: Instrument,
        price: int,
        view: RiskView,
        open_orders: list[Order],
    ) -> Denial | None:
        """``max_position``: the position if this order and the open ones on its side all fill."""
        position = view.position(order.instrument_id)
        held = position.quantity_raw if position is not None else 0
        sign = order.side.sign
        # Open orders on the same side count: ten orders just under the limit are not allowed
        # to add up to ten times the limit.
        resting = sum(
            open_order.leaves_raw
            for open_order in open_orders
            if open_order.instrument_id == order.instrument_id and open_order.side is order.side
        )
        resulting = held + sign * (resting + order.quantity_raw)
        value = notional(price, resulting, instrument)
        currency = instrument.quote_currency
        limit = self.limits.max_position_notional[currency]
        if value <= limit:
            return None
        base = instrument.base_currency
        return Denial(
            "max_position",
            f"the position would be {size_text(resulting, instrument)} {base}, worth "
            f"{money(value, currency)} at {price_text(price, instrument)}, above the limit "
            f"{money(limit, currency)} (held {size_text(held, instrument)}, open "
            f"{order.side.value} orders {size_text(resting, instrument)}, this order "
            f"{size_text(order.quantity_raw, instrument)})",
        )

    def _exposure_limit(
        self,
        order: OrderSubmitted,
        instrument: Instrument,
        value: Decimal,
        view: RiskView,
        open_orders: list[Order],
    ) -> Denial | None:
        """``max_gross_exposure``: positions at their marks, open orders and this order."""
        currency = instrument.quote_currency
        exposure = gross_exposure(view, currency, open_orders)
        total = add(exposure.total, value)
        limit = self.limits.max_gross_exposure[currency]
        if total <= limit:
            return None
        return Denial(
            "max_gross_exposure",
            f"gross exposure would be {money(total, currency)} (positions "
            f"{money(exposure.positions, currency)}, open orders "
            f"{money(exposure.open_orders, currency)}, this order {money(value, currency)}), "
            f"above the limit {money(limit, currency)}",
        )

    def _flow(self, open_orders: list[Order], now_ns: int) -> Denial | None:
        """``max_open_orders``, ``rate_limit``."""
        limit = self.limits.max_open_orders
        if len(open_orders) >= limit:
            return Denial(
                "max_open_orders",
                f"{len(open_orders)} orders are open and the limit is {limit}: cancel some first",
            )
        if not self.rate.allows(now_ns):
            return Denial(
                "rate_limit",
                f"{self.rate.count(now_ns)} orders were submitted in the last second and the "
                f"limit is {self.rate.limit} per second",
            )
        return None

    def _balance(
        self, order: OrderSubmitted, instrument: Instrument, price: int, view: RiskView
    ) -> Denial | None:
        """``balance``: cash for a buy with its taker fee; holdings for a sell unless shorting."""
        if order.side is OrderSide.BUY:
            currency = instrument.quote_currency
            notional_raw = price * order.quantity_raw
            fee_raw = FeeRate(instrument.taker_fee).fee_raw(notional_raw)
            scale = notional_scale(instrument)
            cost = from_raw(notional_raw + fee_raw, scale)
            free = view.free_balance(currency)
            if cost > free:
                return Denial(
                    "balance",
                    f"the buy costs {money(cost, currency)} with the estimated fee "
                    f"{money(from_raw(fee_raw, scale), currency)}, more than the free balance "
                    f"{money(free, currency)}",
                )
            return None
        if self.allow_short:
            return None
        base = instrument.base_currency
        quantity = from_raw(order.quantity_raw, instrument.size_precision)
        held = view.free_balance(base)
        if quantity > held:
            return Denial(
                "balance",
                f"selling {size_text(order.quantity_raw, instrument)} {base} needs more than the "
                f"free {money(held, base)} (short selling is off)",
            )
        return None


def _mid_text(double_price_raw: int, instrument: Instrument) -> str:
    mid = from_raw(double_price_raw, instrument.price_precision) / 2
    return f"{mid:,f}"
