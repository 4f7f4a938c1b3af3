"""The paper account: cash and holdings per currency, free and locked.

Totals move only with fills (exact: a buy costs ``price * quantity + fee`` of the quote currency and
adds ``quantity`` of the base asset; a sell the reverse), so the account rebuilt from the starting
balances and the journal's fills equals the live one to the unit. Locks are reservations held by
open orders (a buy reserves its value plus the fee at the highest rate; a sell reserves the base
quantity) and are released in proportion as the order fills, and in full when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from engine.domain.fees import FeeRate
from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.domain.orders import Order, OrderSide


@dataclass(slots=True)
class Balance:
    total: Decimal
    locked: Decimal

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


@dataclass(slots=True)
class _Lock:
    currency: str
    amount: Decimal
    leaves_raw: int


class PaperAccount:
    """Balances per currency for paper trading."""

    def __init__(self, starting: Mapping[str, Decimal]) -> None:
        self.starting = dict(starting)
        self.balances: dict[str, Balance] = {
            currency: Balance(amount, Decimal(0)) for currency, amount in starting.items()
        }
        self._locks: dict[str, _Lock] = {}

    def _balance(self, currency: str) -> Balance:
        balance = self.balances.get(currency)
        if balance is None:
            balance = self.balances[currency] = Balance(Decimal(0), Decimal(0))
        return balance

    def free(self, currency: str) -> Decimal:
        balance = self.balances.get(currency)
        return balance.free if balance is not None else Decimal(0)

    def lock(self, order: Order, instrument: Instrument, price_raw: int) -> None:
        """Reserve what ``order`` may spend; ``price_raw`` values a market buy."""
        leaves = order.quantity_raw - order.filled_raw
        if leaves <= 0:
            return
        if order.side is OrderSide.BUY:
            notional = price_raw * leaves
            rate = FeeRate(max(instrument.maker_fee, instrument.taker_fee))
            scale = instrument.price_precision + instrument.size_precision
            amount = from_raw(notional + rate.fee_raw(notional), scale)
            currency = instrument.quote_currency
        else:
            amount = from_raw(leaves, instrument.size_precision)
            currency = instrument.base_currency
        self._balance(currency).locked += amount
        self._locks[order.client_order_id] = _Lock(currency, amount, leaves)

    def on_fill(
        self,
        order: Order,
        instrument: Instrument,
        price_raw: int,
        quantity_raw: int,
        fee_raw: int,
        *,
        fee_base_raw: int = 0,
        fee_asset: str = "",
        fee_charged: str = "",
    ) -> None:
        """Move the totals by one fill, the fee taken from the asset the venue charged it in
        (the ``OrderFilled`` fee fields: quote currency by default, the base asset, or a third
        asset such as BNB), so the balances follow what the venue account really holds."""
        scale = instrument.price_precision + instrument.size_precision
        cash = from_raw(price_raw * quantity_raw, scale)
        size = from_raw(quantity_raw, instrument.size_precision)
        quote = self._balance(instrument.quote_currency)
        base = self._balance(instrument.base_currency)
        quote_fee = Decimal(0)
        if fee_base_raw:
            base.total -= from_raw(fee_base_raw, instrument.size_precision)
        elif fee_asset and fee_asset != instrument.quote_currency:
            self._balance(fee_asset).total -= Decimal(fee_charged or 0)
        else:
            quote_fee = from_raw(fee_raw, scale)
        if order.side is OrderSide.BUY:
            quote.total -= cash + quote_fee
            base.total += size
        else:
            quote.total += cash - quote_fee
            base.total -= size
        lock = self._locks.get(order.client_order_id)
        if lock is not None:
            # Release in proportion to what filled; the last fill releases the rest exactly.
            release = (
                lock.amount
                if quantity_raw >= lock.leaves_raw
                else lock.amount * quantity_raw / lock.leaves_raw
            )
            release = min(release, lock.amount)
            lock.amount -= release
            lock.leaves_raw -= quantity_raw
            self._balance(lock.currency).locked -= release
            if lock.leaves_raw <= 0:
                self._release_rest(order.client_order_id)

    def release(self, client_order_id: str) -> None:
        """The order ended: whatever it still holds is free again."""
        self._release_rest(client_order_id)

    def _release_rest(self, client_order_id: str) -> None:
        lock = self._locks.pop(client_order_id, None)
        if lock is not None:
            self._balance(lock.currency).locked -= lock.amount
