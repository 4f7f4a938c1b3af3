"""Holdings reconciliation: the engine's positions against what the venue account really holds.

Fees are booked in the asset the venue charges them in, so a long position equals what the fills
credited. The account may hold more than STOM's positions (coins bought by hand, deposits), which
is no difference; holding *less* is one: a sell-all, ``kill --flatten`` or protective exit of the
position would ask for more than the balance and the venue would refuse it (Binance -2010, Upbit
``insufficient_funds_ask``). The live exchange checks after its start-up reconciliation and after
every fill, and reports each new difference on ``oms/reconcile`` at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from engine.domain.fixed_point import from_raw
from engine.domain.instrument import Instrument
from engine.venues.base import Balance


def holding_differences(
    venue: str,
    instruments: Iterable[Instrument],
    positions: Mapping[str, int],
    balances: Iterable[Balance],
) -> list[str]:
    """One line per base asset whose long positions (raw quantities by instrument id) add up to
    more than the venue account holds of it (free plus locked)."""
    held = {balance.currency: balance.free + balance.locked for balance in balances}
    wanted: dict[str, Decimal] = {}
    names: dict[str, list[str]] = {}
    for instrument in instruments:
        quantity = positions.get(str(instrument.id), 0)
        if quantity <= 0:
            continue
        asset = instrument.base_currency
        wanted[asset] = wanted.get(asset, Decimal(0)) + from_raw(
            quantity, instrument.size_precision
        )
        names.setdefault(asset, []).append(str(instrument.id))
    lines = []
    for asset, amount in sorted(wanted.items()):
        has = held.get(asset, Decimal(0))
        if amount > has:
            lines.append(
                f"{asset}: the engine's position ({', '.join(names[asset])}) is {amount} but the "
                f"{venue} account holds {has}: closing it would be refused; check fees and "
                "transfers on the venue"
            )
    return lines
