"""Order sizes for strategies: a value in the quote currency as a quantity on the lot grid."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.instrument import Instrument


def quantity_for_value(instrument: Instrument, price_raw: int, value: float | str) -> int:
    """The largest raw quantity on ``instrument``'s lot grid worth at most ``value`` at
    ``price_raw`` (0 when not even one lot fits, or the price is unknown)."""
    if price_raw <= 0:
        return 0
    scale = instrument.price_precision + instrument.size_precision
    notional_raw = int(Decimal(str(value)).scaleb(scale))
    quantity = notional_raw // price_raw
    lot = instrument.lot_size_raw or 1
    return quantity - quantity % lot
