"""The catalogue of instruments the simulator can generate markets for.

Crypto uses the Upbit KRW tick table and fees; Korean stocks use the KRX tick table, fees and the
±30% daily limit (protocols.md §A.7, §D). Prices are round figures near recent levels, not quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.domain.ids import InstrumentId
from engine.domain.instrument import Instrument, InstrumentKind
from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS, TickTable

SIM_VENUE = "SIM"

_CRYPTO_SIZE_PRECISION = 8
"""Upbit quotes volumes with 8 decimal places; the lot is one unit of the last place."""


@dataclass(frozen=True, slots=True)
class SimSpec:
    """How to simulate one instrument: its rules and the character of its market.

    Sizes are in whole units of the base currency (coins or shares), not raw values.
    """

    symbol: str
    name: str
    kind: InstrumentKind
    base_currency: str
    quote_currency: str
    start_price: Decimal
    """Reference price at the start (previous close): the latent mid starts here."""
    volatility: float
    """Annualised volatility of the latent mid (0.5 = 50% a year), before intraday shaping."""
    trade_size: float
    """Median size of one aggressive order (lognormal, heavy right tail)."""
    level_size: float
    """Median resting size of one price level in the book."""
    activity: float
    """Relative share of the simulator's event rate this instrument gets (1.0 = typical)."""
    price_precision: int
    size_precision: int

    @property
    def is_stock(self) -> bool:
        return self.kind == "stock"


def _crypto(
    symbol: str,
    name: str,
    start_price: str,
    *,
    volatility: float,
    trade_size: float,
    level_size: float,
    activity: float,
    price_precision: int = 0,
) -> SimSpec:
    base = symbol.partition("-")[2]
    return SimSpec(
        symbol=symbol,
        name=name,
        kind="crypto",
        base_currency=base,
        quote_currency="KRW",
        start_price=Decimal(start_price),
        volatility=volatility,
        trade_size=trade_size,
        level_size=level_size,
        activity=activity,
        price_precision=price_precision,
        size_precision=_CRYPTO_SIZE_PRECISION,
    )


def _stock(
    symbol: str,
    name: str,
    start_price: str,
    *,
    volatility: float,
    trade_size: float,
    level_size: float,
    activity: float,
) -> SimSpec:
    return SimSpec(
        symbol=symbol,
        name=name,
        kind="stock",
        base_currency=symbol,
        quote_currency="KRW",
        start_price=Decimal(start_price),
        volatility=volatility,
        trade_size=trade_size,
        level_size=level_size,
        activity=activity,
        price_precision=0,
        size_precision=0,
    )


SIM_CATALOG: dict[str, SimSpec] = {
    spec.symbol: spec
    for spec in (
        _crypto(
            "KRW-BTC", "Bitcoin", "100000000",
            volatility=0.50, trade_size=0.005, level_size=0.15, activity=1.6,
        ),
        _crypto(
            "KRW-ETH", "Ethereum", "5000000",
            volatility=0.65, trade_size=0.08, level_size=2.5, activity=1.2,
        ),
        _crypto(
            "KRW-XRP", "XRP", "3000",
            volatility=0.80, trade_size=150.0, level_size=6000.0, activity=1.3,
        ),
        _crypto(
            "KRW-SOL", "Solana", "250000",
            volatility=0.80, trade_size=2.0, level_size=60.0, activity=0.8,
        ),
        _crypto(
            "KRW-DOGE", "Dogecoin", "300",
            volatility=0.90, trade_size=2000.0, level_size=150000.0, activity=0.7,
        ),
        _crypto(
            # Below 100 KRW the tick is 0.1 (0.01 under 10), so two decimal places are needed.
            "KRW-ANKR", "Ankr", "40",
            volatility=1.00, trade_size=20000.0, level_size=400000.0, activity=0.4,
            price_precision=2,
        ),
        _stock(
            "005930", "Samsung Electronics", "70000",
            volatility=0.30, trade_size=40.0, level_size=15000.0, activity=1.2,
        ),
        _stock(
            "000660", "SK hynix", "200000",
            volatility=0.45, trade_size=10.0, level_size=1500.0, activity=1.0,
        ),
        _stock(
            "035720", "Kakao", "40000",
            volatility=0.40, trade_size=25.0, level_size=4000.0, activity=0.7,
        ),
        _stock(
            "005380", "Hyundai Motor", "220000",
            volatility=0.35, trade_size=8.0, level_size=800.0, activity=0.6,
        ),
    )
}  # fmt: skip
"""Simulatable instruments keyed by symbol (``KRW-BTC``, ``005930``…)."""

_CRYPTO_FEE = Decimal("0.0005")
_CRYPTO_MIN_NOTIONAL = Decimal(5000)
_STOCK_FEE = Decimal("0.00015")
_STOCK_MIN_NOTIONAL = Decimal(1)
_KRX_DAILY_LIMIT = Decimal("0.30")


def sim_spec(symbol: str) -> SimSpec:
    """The catalogue entry for ``symbol``; :class:`KeyError` naming the known symbols otherwise."""
    try:
        return SIM_CATALOG[symbol]
    except KeyError:
        known = ", ".join(SIM_CATALOG)
        raise KeyError(f"unknown simulator symbol {symbol!r}; known symbols: {known}") from None


def sim_instrument(symbol: str) -> Instrument:
    """The :class:`Instrument` (id ``SYMBOL.SIM``) for a catalogue symbol."""
    spec = sim_spec(symbol)
    stock = spec.is_stock
    bands = KRX_STOCK_BANDS if stock else UPBIT_KRW_BANDS
    return Instrument(
        id=InstrumentId.of(symbol, SIM_VENUE),
        name=spec.name,
        kind=spec.kind,
        base_currency=spec.base_currency,
        quote_currency=spec.quote_currency,
        price_precision=spec.price_precision,
        size_precision=spec.size_precision,
        tick_table=TickTable.from_decimal(bands, spec.price_precision),
        lot_size_raw=1,
        min_notional=_STOCK_MIN_NOTIONAL if stock else _CRYPTO_MIN_NOTIONAL,
        maker_fee=_STOCK_FEE if stock else _CRYPTO_FEE,
        taker_fee=_STOCK_FEE if stock else _CRYPTO_FEE,
        daily_limit=_KRX_DAILY_LIMIT if stock else None,
    )
