"""The simulator's catalogue: instruments carry their venue's rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.fixed_point import to_raw
from engine.sim.catalog import SIM_CATALOG, sim_instrument, sim_spec

REQUIRED = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE"]
STOCKS = ["005930", "000660", "035720", "005380"]


def test_the_required_symbols_are_listed() -> None:
    assert set(REQUIRED + STOCKS) <= set(SIM_CATALOG)


@pytest.mark.parametrize("symbol", list(SIM_CATALOG))
def test_every_instrument_is_consistent(symbol: str) -> None:
    spec = sim_spec(symbol)
    instrument = sim_instrument(symbol)
    assert instrument.id == f"{symbol}.SIM"
    assert instrument.id.venue == "SIM"
    assert instrument.kind == spec.kind
    assert instrument.quote_currency == "KRW"
    start = to_raw(spec.start_price, instrument.price_precision)
    table = instrument.tick_table
    assert table.is_on_grid(start)
    # Prices well below the start stay representable (the sub-100 KRW bands need decimals).
    assert table.is_on_grid(table.round_down(start // 3))
    assert table.tick_at(start // 3) <= table.tick_at(start)
    assert instrument.lot_size_raw == 1
    assert spec.volatility > 0
    assert 0 < spec.trade_size < spec.level_size


@pytest.mark.parametrize("symbol", [s for s in SIM_CATALOG if SIM_CATALOG[s].kind == "crypto"])
def test_crypto_rules(symbol: str) -> None:
    instrument = sim_instrument(symbol)
    assert instrument.size_precision == 8
    assert instrument.maker_fee == instrument.taker_fee == Decimal("0.0005")
    assert instrument.min_notional == Decimal(5000)
    assert instrument.daily_limit is None


@pytest.mark.parametrize("symbol", STOCKS)
def test_stock_rules(symbol: str) -> None:
    instrument = sim_instrument(symbol)
    assert instrument.size_precision == 0
    assert instrument.price_precision == 0
    assert instrument.maker_fee == instrument.taker_fee == Decimal("0.00015")
    assert instrument.min_notional == Decimal(1)
    assert instrument.daily_limit == Decimal("0.30")


def test_tick_sizes_at_the_start_prices() -> None:
    ticks = {
        symbol: sim_instrument(symbol).tick_table.tick_at(
            to_raw(SIM_CATALOG[symbol].start_price, sim_instrument(symbol).price_precision)
        )
        for symbol in SIM_CATALOG
    }
    assert ticks["KRW-BTC"] == 1000
    assert ticks["KRW-ETH"] == 1000
    assert ticks["KRW-XRP"] == 1
    assert ticks["KRW-SOL"] == 100
    assert ticks["KRW-DOGE"] == 1
    assert ticks["KRW-ANKR"] == 10  # 0.1 KRW at two decimal places
    assert ticks["005930"] == 100
    assert ticks["000660"] == 500
    assert ticks["035720"] == 50
    assert ticks["005380"] == 500


def test_unknown_symbol_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"'KRW-NOPE'.*known symbols: KRW-BTC, KRW-ETH"):
        sim_instrument("KRW-NOPE")
