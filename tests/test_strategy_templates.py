"""The templates in strategies/: each loads, declares searchable ranges, and trades as its
docstring says on a scripted tick sequence through the real runner, risk, OMS and fill model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.domain.market_data import ASK, BID
from engine.domain.orders import OrderSide, OrderStatus
from engine.strategy.loader import load_strategy_class
from tests.support.strategy_desk import STRATEGIES, StrategyDesk

TEMPLATES = {
    "tick_momentum.py": "TickMomentum",
    "book_imbalance.py": "BookImbalance",
    "vwap_reversion.py": "VwapReversion",
    "opening_range.py": "OpeningRange",
}
MIN = 60_000.0  # ms


@pytest.fixture
def desk(tmp_path: Path):
    desk = StrategyDesk(tmp_path)
    yield desk
    desk.close()


@pytest.mark.parametrize(("file", "name"), TEMPLATES.items())
def test_each_template_loads_with_documented_ranges(file: str, name: str) -> None:
    cls = load_strategy_class(STRATEGIES / file)
    assert cls.__name__ == name
    doc = (cls.__module__ and (STRATEGIES / file).read_text()).split('"""')[1]
    for heading in ("Idea", "Parameters", "Exits"):
        assert f"\n{heading}\n" in doc, f"{file}: docstring lacks {heading}"
    assert cls.params
    for param_name, param in cls.params.items():
        assert param.low is not None and param.high is not None and param.step, param_name
        assert param.low <= param.default <= param.high
        assert param_name in doc, f"{file}: parameter {param_name} is not documented"


def filled(desk: StrategyDesk, side: OrderSide) -> list:
    return [o for o in desk.orders() if o.side is side and o.status is OrderStatus.FILLED]


def test_tick_momentum_buys_a_surge_and_takes_profit(desk: StrategyDesk) -> None:
    desk.add_template("tick_momentum.py", window=10, threshold=0.8, take_profit_bps=10.0)
    for _ in range(5):  # balanced flow: no entry
        desk.trade(BID, 50_000_000)
        desk.trade(ASK, 49_999_000)
    desk.settle()
    assert desk.orders() == []
    for _ in range(10):  # a burst of aggressive buying
        desk.trade(BID, 50_000_000)
    desk.settle()
    [buy] = filled(desk, OrderSide.BUY)
    assert buy.filled_raw == 200_000  # 100,000 KRW at 50,000,000: 0.002 BTC
    assert desk.position() == 200_000
    desk.trade(BID, 50_030_000)  # +6 bps: hold
    desk.settle()
    assert filled(desk, OrderSide.SELL) == []
    desk.trade(BID, 50_060_000)  # +12 bps: take profit
    desk.settle()
    assert len(filled(desk, OrderSide.SELL)) == 1
    assert desk.position() == 0


def test_tick_momentum_stops_out_and_waits_for_the_cooldown(desk: StrategyDesk) -> None:
    desk.add_template("tick_momentum.py", window=10, threshold=0.8, cooldown_s=10.0)
    for _ in range(10):
        desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position() == 200_000
    desk.trade(ASK, 49_900_000)  # -20 bps: stop-loss at 15
    desk.settle()
    assert desk.position() == 0
    for _ in range(10):  # still a surge, but inside the cooldown
        desk.trade(BID, 50_000_000)
    desk.settle()
    assert len(filled(desk, OrderSide.BUY)) == 1
    desk.trade(BID, 50_000_000, ms=10_000.0)
    desk.settle()
    assert len(filled(desk, OrderSide.BUY)) == 2


def test_book_imbalance_enters_on_a_bid_heavy_book_and_exits_when_it_flips(
    desk: StrategyDesk,
) -> None:
    desk.add_template("book_imbalance.py", depth=5, entry_imbalance=0.5, confirm=2)
    desk.book(49_999_000, 50_000_000, 10_000_000, 10_000_000)  # balanced
    desk.settle()
    assert desk.orders() == []
    desk.book(49_999_000, 50_000_000, 40_000_000, 10_000_000)  # (4 - 1) / 5 = 0.6
    assert desk.orders() == []  # one update: not confirmed yet
    desk.book(49_999_000, 50_000_000, 40_000_000, 10_000_000)
    desk.settle()
    assert desk.position() == 200_000
    desk.book(49_999_000, 50_000_000, 10_000_000, 40_000_000)  # -0.6: the pressure flipped
    desk.settle()
    assert desk.position() == 0
    assert len(filled(desk, OrderSide.SELL)) == 1


def test_vwap_reversion_buys_the_dip_and_sells_the_return(desk: StrategyDesk) -> None:
    desk.add_template("vwap_reversion.py", min_trades=10, entry_bps=20.0)
    for _ in range(10):
        desk.trade(BID, 50_000_000)
    desk.trade(ASK, 49_950_000)  # -10 bps under the VWAP: not enough
    desk.settle()
    assert desk.orders() == []
    desk.trade(ASK, 49_880_000)  # about -23 bps: buy
    desk.settle()
    assert desk.position() == 200_000
    desk.trade(BID, 49_990_000)  # the VWAP is a little under 50,000,000 now: reverted
    desk.settle()
    assert desk.position() == 0
    [sell] = filled(desk, OrderSide.SELL)
    assert sell.filled_raw == 200_000


def test_opening_range_buys_the_breakout_once_and_exits_at_the_range_low(
    desk: StrategyDesk,
) -> None:
    # START_NS is 22:13:20 UTC; open the session at 22:14 so the range is 22:14-22:15.
    desk.add_template("opening_range.py", session_start_min=22 * 60 + 14, range_min=1)
    desk.trade(BID, 50_000_000, ms=40_000.0)  # 22:14:00: the range opens
    desk.trade(ASK, 49_990_000, ms=20_000.0)
    desk.trade(BID, 50_010_000, ms=20_000.0)  # range 49,990,000 - 50,010,000
    desk.trade(BID, 50_005_000, ms=30_000.0)  # 22:15:10, inside the range: nothing
    desk.settle()
    assert desk.orders() == []
    desk.trade(BID, 50_020_000)  # breakout
    desk.settle()
    assert desk.position() == 200_000
    desk.trade(ASK, 49_990_000)  # back to the range low: exit
    desk.settle()
    assert desk.position() == 0
    desk.trade(BID, 50_020_000)  # a second breakout the same session: no new entry
    desk.settle()
    assert len(filled(desk, OrderSide.BUY)) == 1


def test_template_state_survives_a_restart(desk: StrategyDesk, tmp_path: Path) -> None:
    desk.add_template("tick_momentum.py", window=10, threshold=0.8)
    for _ in range(10):
        desk.trade(BID, 50_000_000)
    desk.settle()
    saved = desk.runner.remove("s")
    assert saved["strategy"]["entries"]["KRW-BTC.SIM"][0] == 50_000_000
    cls = load_strategy_class(STRATEGIES / "tick_momentum.py")
    desk.runner.add(cls, {}, ["KRW-BTC.SIM"], strategy_id="s", state=saved)
    assert desk.position() == 200_000
    desk.trade(ASK, 49_900_000)  # the restored entry still drives the stop-loss
    desk.settle()
    assert desk.position() == 0


def test_the_readme_example_loads_and_trades(desk: StrategyDesk, tmp_path: Path) -> None:
    readme = (STRATEGIES / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "two_averages.py"
    path.write_text(code)
    cls = load_strategy_class(path)
    desk.runner.add(cls, {"fast": 5, "slow": 20}, ["KRW-BTC.SIM"], strategy_id="s")
    for n in range(20):
        desk.trade(BID, 50_000_000 - n * 1_000)  # falling: fast under slow
    desk.settle()
    assert desk.position() == 0
    for n in range(10):
        desk.trade(BID, 50_000_000 + n * 5_000)  # rising: fast crosses above
    desk.settle()
    assert desk.position() == 100_000
    for n in range(10):
        desk.trade(ASK, 49_900_000 - n * 5_000)  # falling again: out
    desk.settle()
    assert desk.position() == 0
