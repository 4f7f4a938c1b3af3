"""The backtester on a tiny hand-made recording: every fill, fee and the PnL known by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from engine.backtest.request import BacktestRequest
from engine.backtest.results import list_results, load_result, save_result
from engine.backtest.run import run_backtest
from engine.config.settings import PaperSettings, Settings
from engine.domain.market_data import ASK, BID, BOOK_LEVEL, TRADE, MarketBatch
from engine.sim.catalog import sim_instrument
from engine.storage.tick_store import TickWriter, day_start_ns

STRATEGIES = Path(__file__).parent / "strategies"
T0 = day_start_ns(date(2026, 1, 5)) + 3_600_000_000_000
S = 1_000_000_000


def write_recording(root: Path) -> None:
    """KRW-BTC: a book, then three trades; the bid grows before the third (raw sizes, 1e-8)."""
    btc = sim_instrument("KRW-BTC")
    writer = TickWriter(root, btc, 0, session=T0)
    batches = [
        (
            T0,
            [
                (BOOK_LEVEL, BID, 49_999_000, 10_000_000),
                (BOOK_LEVEL, BID, 49_998_000, 10_000_000),
                (BOOK_LEVEL, ASK, 50_000_000, 500_000),
                (BOOK_LEVEL, ASK, 50_001_000, 10_000_000),
            ],
        ),
        (T0 + 1 * S, [(TRADE, BID, 50_000_000, 100_000)]),
        (T0 + 2 * S, [(TRADE, ASK, 49_999_000, 100_000)]),
        (T0 + 3 * S, [(BOOK_LEVEL, BID, 49_999_000, 20_000_000), (TRADE, ASK, 49_999_000, 1)]),
    ]
    for ts, events in batches:
        batch = MarketBatch()
        for kind, side, price, size in events:
            batch.append(kind, 0, side, price, size, ts - 1_000)
        writer.append_batch(batch, ts)
    writer.close()


def test_golden_backtest(tmp_path: Path) -> None:
    write_recording(tmp_path / "ticks")
    request = BacktestRequest(
        strategy_file=str(STRATEGIES / "scripted.py"),
        data_dir=str(tmp_path / "ticks"),
        results_dir=str(tmp_path / "backtests"),
        params={"buy_on": 1, "sell_on": 3, "size": 0.01},
    )
    settings = Settings(paper=PaperSettings(order_latency_ms=0.0))
    result = run_backtest(request, settings)

    # Buy 0.01 BTC at market at the first trade (T0 + 1 s): the ask walks two levels, 0.005 each.
    # Sell 0.01 at market at the third trade (T0 + 3 s): the grown bid takes it all.
    # Fees: 0.05 % of each fill's notional, rounded up at 1e-8 KRW.
    fills = [(f.ts, f.side, f.price_raw, f.quantity_raw, f.fee_raw) for f in result.fills]
    assert fills == [
        (T0 + 1 * S, "buy", 50_000_000, 500_000, 12_500_000_000),
        (T0 + 1 * S, "buy", 50_001_000, 500_000, 12_500_250_000),
        (T0 + 3 * S, "sell", 49_999_000, 1_000_000, 24_999_500_000),
    ]
    summary = result.summary
    # Realized: 499,990 - (250,000 + 250,005) = -15 KRW; fees 499.9975 KRW.
    assert Decimal(summary.fees) == Decimal("499.9975")
    assert Decimal(summary.pnl) == Decimal("-514.9975")
    assert Decimal(summary.final_equity) == Decimal("99999485.0025")
    assert summary.open_position == {}
    assert summary.orders == 2 and summary.fills == 3 and summary.denied == 0
    # The writer opens the session with a BOOK_CLEAR (its own batch), then 8 recorded events.
    assert (summary.ticks, summary.batches) == (9, 5)
    assert summary.trade_stats.trades == 1
    assert summary.trade_stats.win_rate == 0.0
    assert summary.trade_stats.average_hold_ns == 2 * S
    [trade] = result.trades
    assert (trade.direction, trade.quantity_raw) == ("long", 1_000_000)
    assert trade.pnl == Decimal("-514.9975")
    assert trade.entry_price == Decimal("50000500") and trade.exit_price == Decimal("49999000")
    assert summary.strategy_state == "running"

    # Stored and reopened as written.
    folder = save_result(result, request.results_dir)
    assert [s.id for s in list_results(request.results_dir)] == [folder.name]
    stored = load_result(request.results_dir, folder.name)
    assert stored.summary == result.summary
    assert stored.fills["fee"].to_list() == ["125.00000000", "125.00250000", "249.99500000"]
    assert stored.trades["pnl"].to_list() == ["-514.99750000"]
    assert stored.orders["status"].to_list() == ["filled", "filled"]
    assert stored.equity.height >= 2
