"""The instrument rules an import writes beside its ticks (``instrument.json``).

In order of preference:

1. rules already in the store for that instrument (from ``stom data record``/``download``): the
   venue's own, kept as they are;
2. the venue's published rules where they need no network: Upbit's KRW price bands (0.05 % fee),
   KRX's stock tick bands (the broker fee, the daily ±30 % limit);
3. otherwise (Binance, or a venue without offline rules): the precisions the data shows (or
   ``--price-precision``/``--size-precision``), a flat tick and lot at those precisions unless
   ``--tick-size``/``--lot-size`` say otherwise, and ``--fee``. ``docs/data.md`` lists what to
   check against the venue's exchange information.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.domain.fixed_point import to_raw
from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument
from engine.domain.tick_table import TickTable
from engine.importers.values import ImportProblem
from engine.storage.instrument_file import read_instrument
from engine.storage.tick_store import instrument_folder

__all__ = ["RuleOptions", "import_instrument", "stored_instrument"]

_QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "KRW")
BINANCE_FEE = Decimal("0.001")
"""Binance spot's base maker/taker fee (VIP 0, no BNB discount)."""


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """What the user said about the instrument's rules (None: from the venue or the data)."""

    price_precision: int | None = None
    size_precision: int | None = None
    tick_size: str | None = None
    lot_size: str | None = None
    fee: str | None = None
    min_notional: str | None = None
    name: str | None = None
    segment: str | None = None
    """KRX market segment (KOSPI, KOSDAQ, KONEX, ETF, ETN, ELW): the tick grid and sell tax."""


def stored_instrument(root: Path, instrument_id: str) -> Instrument | None:
    folder = instrument_folder(root, instrument_id)
    return read_instrument(folder) if (folder / "instrument.json").exists() else None


def import_instrument(
    root: Path,
    venue: str,
    symbol: str,
    *,
    first_price: Decimal,
    price_decimals: int,
    size_decimals: int,
    options: RuleOptions,
) -> Instrument:
    """The rules for ``symbol`` on ``venue`` (see the module docstring for the order)."""
    venue = venue.upper()
    instrument_id = str(InstrumentId.of(symbol, venue))
    stored = stored_instrument(root, instrument_id)
    if stored is not None:
        return stored
    if venue == "UPBIT":
        from engine.venues.upbit.rules import build_instrument, check_symbols

        try:
            check_symbols([symbol])
        except ValueError as exc:
            raise ImportProblem(f"--instrument {symbol}: {exc}") from None
        return build_instrument(symbol, options.name or symbol, first_price, None)
    if venue == "KRX":
        from engine.venues.kiwoom.rules import SEGMENTS, krx_instrument

        if not symbol.isalnum() or len(symbol) != 6:
            raise ImportProblem(f"--instrument {symbol}: a KRX code has 6 characters (005930)")
        segment = options.segment or "KOSPI"
        if segment not in SEGMENTS:
            raise ImportProblem(
                f"{symbol}: segment {segment!r} is not one of {', '.join(SEGMENTS)}"
            )
        return krx_instrument(symbol, options.name or symbol, segment=segment)
    return _from_data(venue, symbol, price_decimals, size_decimals, options)


ETF_BRANDS = (
    "KODEX", "TIGER", "KBSTAR", "RISE", "ARIRANG", "HANARO", "KOSEF", "ACE", "SOL", "PLUS",
    "TIMEFOLIO", "KIWOOM", "1Q", "TREX", "FOCUS", "BNK", "WON", "UNICORN", "ITF", "KCGI",
    "VITA", "파워", "마이다스", "에셋플러스", "히어로즈", "마이티", "TRUSTON", "DAISHIN343",
)  # fmt: skip
"""Korean ETF brand names (the issuers' product lines): a name that starts with one is an ETF."""


def krx_segment(name: str, kosdaq: bool) -> str:
    """The KRX segment told by an instrument's name and KOSDAQ flag (STOM keeps no segment):
    ETF brand names and ``ETN`` in a name mark exchange-traded products, whose tick grid and tax
    differ from stocks'. ``--segment CODE=SEG`` overrides it."""
    words = name.upper().split()
    if not words:
        return "KOSDAQ" if kosdaq else "KOSPI"
    if "ETN" in words or words[-1].endswith("ETN"):
        return "ETN"
    # The brand is the name's first word ("KODEX 200", "SOL 미국배당"): a stock whose name merely
    # begins with the same letters ("SOLUM") is not an ETF.
    if words[0] in ETF_BRANDS:
        return "ETF"
    return "KOSDAQ" if kosdaq else "KOSPI"


def _from_data(
    venue: str, symbol: str, price_decimals: int, size_decimals: int, options: RuleOptions
) -> Instrument:
    base, quote = _split(symbol)
    price_precision = (
        options.price_precision if options.price_precision is not None else price_decimals
    )
    size_precision = options.size_precision if options.size_precision is not None else size_decimals
    tick = _step(options.tick_size, price_precision, "--tick-size")
    lot = _step(options.lot_size, size_precision, "--lot-size")
    fee = _decimal(options.fee, "--fee") if options.fee else BINANCE_FEE
    return Instrument(
        id=InstrumentId.of(symbol, venue),
        name=options.name or symbol,
        kind="crypto",
        base_currency=base,
        quote_currency=quote,
        price_precision=price_precision,
        size_precision=size_precision,
        tick_table=TickTable.flat(tick),
        lot_size_raw=lot,
        min_notional=_decimal(options.min_notional, "--min-notional")
        if options.min_notional
        else Decimal(0),
        maker_fee=fee,
        taker_fee=fee,
    )


def _split(symbol: str) -> tuple[str, str]:
    if "-" in symbol:
        quote, _, base = symbol.partition("-")
        return base, quote
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol.removesuffix(quote), quote
    raise ImportProblem(
        f"--instrument {symbol}: cannot tell its quote currency (one of {', '.join(_QUOTES)})"
    )


def _decimal(text: str | None, option: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ImportProblem(f"{option} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ImportProblem(f"{option} {text!r} must be a non-negative number")
    return value


def _step(text: str | None, precision: int, option: str) -> int:
    if text is None:
        return 1
    value = _decimal(text, option)
    try:
        raw = to_raw(value, precision)
    except ValueError as exc:
        raise ImportProblem(f"{option} {text}: {exc} at precision {precision}") from None
    if raw <= 0:
        raise ImportProblem(f"{option} {text} must be positive")
    return raw
