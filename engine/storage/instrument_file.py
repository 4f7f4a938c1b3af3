"""An instrument's rules as a small JSON file beside its recorded ticks.

Recorded prices and sizes are raw integers (see :mod:`engine.domain`), meaningless without the
instrument's precisions; the file also carries the tick table, lot, minimum notional and fees so a
backtest trades the same rules the recording was made under.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from engine.domain.fees import SellTax
from engine.domain.fixed_point import format_raw, to_raw
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument, InstrumentKind
from engine.domain.tick_table import TickTable

INSTRUMENT_FILE = "instrument.json"


class InstrumentRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """:class:`Instrument` in decimal text, for files (``instrument.json``)."""

    id: str
    name: str
    kind: str
    base_currency: str
    quote_currency: str
    price_precision: int
    size_precision: int
    tick_bands: list[tuple[str, str]]
    lot_size: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    daily_limit: str | None = None
    sell_tax: list[tuple[int, list[str]]] | None = None
    """Sell-side transaction tax: ``(first trade time ns, component rates)`` periods, or none."""


def instrument_record(instrument: Instrument) -> InstrumentRecord:
    pp = instrument.price_precision
    return InstrumentRecord(
        id=str(instrument.id),
        name=instrument.name,
        kind=instrument.kind,
        base_currency=instrument.base_currency,
        quote_currency=instrument.quote_currency,
        price_precision=pp,
        size_precision=instrument.size_precision,
        tick_bands=[
            (format_raw(lo, pp), format_raw(t, pp)) for lo, t in instrument.tick_table.bands
        ],
        lot_size=instrument.format_size(instrument.lot_size_raw),
        min_notional=str(instrument.min_notional),
        maker_fee=str(instrument.maker_fee),
        taker_fee=str(instrument.taker_fee),
        daily_limit=None if instrument.daily_limit is None else str(instrument.daily_limit),
        sell_tax=None if instrument.sell_tax is None else instrument.sell_tax.to_text(),
    )


_KINDS: dict[str, InstrumentKind] = {"crypto": "crypto", "stock": "stock"}


def instrument_from_record(record: InstrumentRecord) -> Instrument:
    pp = record.price_precision
    kind = _KINDS.get(record.kind)
    if kind is None:
        raise ValueError(f"instrument {record.id}: kind {record.kind!r} is not crypto or stock")
    return Instrument(
        id=InstrumentId(record.id),
        name=record.name,
        kind=kind,
        base_currency=record.base_currency,
        quote_currency=record.quote_currency,
        price_precision=pp,
        size_precision=record.size_precision,
        tick_table=TickTable([(to_raw(lo, pp), to_raw(t, pp)) for lo, t in record.tick_bands]),
        lot_size_raw=to_raw(record.lot_size, record.size_precision),
        min_notional=Decimal(record.min_notional),
        maker_fee=Decimal(record.maker_fee),
        taker_fee=Decimal(record.taker_fee),
        daily_limit=None if record.daily_limit is None else Decimal(record.daily_limit),
        sell_tax=None
        if record.sell_tax is None
        else SellTax(
            [(start, [Decimal(rate) for rate in rates]) for start, rates in record.sell_tax]
        ),
    )


def write_instrument(folder: Path, instrument: Instrument) -> Path:
    """Write ``folder/instrument.json`` atomically (temporary file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INSTRUMENT_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(msgspec.json.format(msgspec.json.encode(instrument_record(instrument))))
    temporary.replace(path)
    return path


def read_instrument(folder: Path) -> Instrument:
    """Read ``folder/instrument.json``; a bad file raises ValueError naming the file and field."""
    path = folder / INSTRUMENT_FILE
    try:
        record = msgspec.json.decode(path.read_bytes(), type=InstrumentRecord)
        return instrument_from_record(record)
    except FileNotFoundError:
        raise ValueError(f"{path}: missing (every recorded instrument needs one)") from None
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"{path}: {exc}") from None
