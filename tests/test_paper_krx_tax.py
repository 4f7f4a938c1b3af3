"""KRX's sell-side transaction tax in the paper fill model, and so in the backtester (issue 11,
finding 12): by market and trade date, each component truncated to the won; ETFs exempt; the
same tax in paper trading and in a backtest of its recording."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from engine.backtest.request import BacktestRequest
from engine.backtest.run import run_backtest
from engine.config.errors import ConfigError
from engine.config.loader import load_settings
from engine.config.settings import PaperSettings, Settings
from engine.domain.fees import FeeRate, SellTax
from engine.domain.market_data import ASK, BID
from engine.sim.catalog import sim_instrument
from engine.venues.kiwoom import KiwoomFeed
from engine.venues.kiwoom.rules import KRX_SELL_TAX, krx_instrument, sell_tax_for
from tests.test_backtest_parity import STRATEGIES, as_tuple, paper_run
from tests.test_paper_fill_model import BUY, SELL, Venue, fills, level
from tests.venues.kiwoom.helpers import credentials, loopback

KST = timezone(timedelta(hours=9))
SAMSUNG = "005930.KRX"
KODEX = "069500.KRX"
SHARES = 37
PRICE = 71_300


def at(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=KST).timestamp()) * 10**9


def sell_fee(segment: str, day: str, code: str) -> int:
    instrument = krx_instrument(code.partition(".")[0], code, segment=segment)
    venue = Venue(instrument)
    venue.now = at(day)
    venue.feed(level(BID, PRICE, 1_000, code), level(ASK, PRICE + 100, 1_000, code))
    venue.submit(SELL, SHARES, instrument=code)
    ((_, price, quantity, fee, _),) = fills(venue.pump())
    assert (price, quantity) == (PRICE, SHARES)
    return fee


def test_a_kospi_sale_pays_the_tax_of_its_trade_date_on_top_of_the_commission() -> None:
    proceeds = PRICE * SHARES  # 2,638,100 KRW
    commission = FeeRate("0.00015").fee_raw(proceeds)
    # 2026: 0.05 % securities transaction tax + 0.15 % rural special tax, each cut to the won.
    assert sell_fee("KOSPI", "2026-03-03", SAMSUNG) == commission + 1_319 + 3_957
    # 2025: the securities transaction tax was 0 on KOSPI; the special tax stayed.
    assert sell_fee("KOSPI", "2025-06-02", SAMSUNG) == commission + 3_957
    # KOSDAQ 2024: 0.18 %, one component.
    assert sell_fee("KOSDAQ", "2024-05-02", SAMSUNG) == commission + 4_748


def test_an_etf_sale_pays_no_tax_and_a_buy_never_does() -> None:
    proceeds = PRICE * SHARES
    assert sell_fee("ETF", "2026-03-03", KODEX) == FeeRate("0.00015").fee_raw(proceeds)
    venue = Venue(krx_instrument("005930", SAMSUNG))
    venue.now = at("2026-03-03")
    venue.feed(level(BID, PRICE, 1_000, SAMSUNG), level(ASK, PRICE + 100, 1_000, SAMSUNG))
    venue.submit(BUY, SHARES, instrument=SAMSUNG)
    ((_, price, quantity, fee, _),) = fills(venue.pump())
    assert fee == FeeRate("0.00015").fee_raw(price * quantity)


def test_the_backtester_charges_the_tax_as_paper_trading_does(tmp_path: Path) -> None:
    # The recording's day is 2026-02-03 (tests/test_backtest_parity.py): KOSPI's tax is 0.20 %.
    taxed = dataclasses.replace(sim_instrument("005930"), sell_tax=KRX_SELL_TAX["KOSPI"])
    root = tmp_path / "ticks"
    strategy = STRATEGIES / "quoter.py"
    params = {"size": 1.0, "away_ticks": 1}
    paper_fills, _ = paper_run(root, tmp_path, strategy, params, 5.0, instruments=[taxed])
    sells = [fill for fill in paper_fills if fill[2] == "sell"]
    assert sells, "the strategy must sell for the comparison to mean anything"
    for _, _, _, price, quantity, fee, liquidity in sells:
        notional = int(price) * int(quantity)  # type: ignore[call-overload]
        rate = FeeRate(taxed.maker_fee if liquidity == "maker" else taxed.taker_fee)
        tax = notional * 5 // 10_000 + notional * 15 // 10_000
        assert fee == rate.fee_raw(notional) + tax
    request = BacktestRequest(
        strategy_file=str(strategy),
        data_dir=str(root),
        results_dir=str(tmp_path / "backtests"),
        params=params,
        instruments=["005930.SIM"],
    )
    result = run_backtest(request, Settings(paper=PaperSettings(order_latency_ms=5.0)))
    assert [as_tuple(fill) for fill in result.fills] == paper_fills


def test_a_configured_rate_overrides_the_schedule_and_a_bad_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[venues.kiwoom]\nsell_tax = { KOSDAQ = "0.0025" }\n')
    settings, _ = load_settings(path, env={})
    overrides = settings.venues.kiwoom.sell_tax
    kosdaq = sell_tax_for("KOSDAQ", overrides)
    assert kosdaq is not None and kosdaq.rate_at(at("2026-03-03")) == Decimal("0.0025")
    kospi = sell_tax_for("KOSPI", overrides)
    assert kospi is KRX_SELL_TAX["KOSPI"]
    path.write_text('[venues.kiwoom]\nsell_tax = { KOSPI = "0.2%" }\n')
    with pytest.raises(ConfigError, match=r"\[venues.kiwoom\] sell_tax.*KOSPI = .0.2%.: expected"):
        load_settings(path, env={})


async def test_the_kiwoom_feed_builds_instruments_with_the_configured_tax() -> None:
    async with loopback(segments={"000660": "KOSDAQ"}) as server:
        feed = KiwoomFeed(server.rest_url, server.ws_url, sell_tax={"KOSDAQ": "0.0025"},
                          **credentials())  # type: ignore[arg-type]  # fmt: skip
        samsung, hynix = await feed.load_instruments(["005930", "000660"])
        await feed.close()
    assert samsung.sell_tax is KRX_SELL_TAX["KOSPI"]
    assert hynix.sell_tax == SellTax.flat("0.0025")
