"""STOM condition texts run as a strategy, end to end on an imported STOM database through real
``stom`` subprocesses: the same fills as the same logic in the strategy API, the optimizer
searching ``self.vars``, and broken texts named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.backtest.results import load_result
from engine.protocol.strategies import Strategies, StrategyInfo
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.stom_databases import write_stom_db
from tests.test_data_import import stom

pytestmark = pytest.mark.integration

STRATEGIES = Path(__file__).parent / "strategies"
BUY, SELL = STRATEGIES / "stom" / "buy.txt", STRATEGIES / "stom" / "sell.txt"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stom")
    db = write_stom_db(folder / "stock_tick_back.db", rows_per_day=1500, days=2)
    run = stom(folder, "data", "import", str(db), "--store", str(folder / "store"))
    assert run.returncode == 0, run.stderr
    return folder / "store"


def fills_of(tmp_path: Path, summary: dict[str, object]) -> list[tuple[object, ...]]:
    result = load_result(tmp_path / "data" / "backtests", str(summary["id"]))
    fills = result.fills.drop("client_order_id", "strategy_id", strict=False)
    assert fills.height == summary["fills"]
    return [tuple(row) for row in fills.rows()]


def run(tmp_path: Path, store: Path, *args: str) -> dict[str, object]:
    done = stom(tmp_path, "backtest", *args, "--data", str(store), "--instrument", "005930.KRX",
                "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def test_texts_trade_exactly_like_the_same_logic_in_the_strategy_api(
    tmp_path: Path, imported: Path
) -> None:
    texts = run(tmp_path, imported, str(STRATEGIES / "stom_texts.py"))
    api = run(tmp_path, imported, str(STRATEGIES / "stom_equivalent.py"))
    shorthand = run(tmp_path, imported, "--stom-buy", str(BUY), "--stom-sell", str(SELL),
                    "--param", "var1=100.0", "--param", "var2=0.5")  # fmt: skip
    assert texts["fills"] > 20
    assert fills_of(tmp_path, texts) == fills_of(tmp_path, api) == fills_of(tmp_path, shorthand)
    assert texts["pnl"] == api["pnl"] == shorthand["pnl"]


def test_the_optimizer_searches_the_texts_vars(tmp_path: Path, imported: Path) -> None:
    done = stom(tmp_path, "optimize", str(STRATEGIES / "stom_texts.py"), "--data", str(imported),
                "--instrument", "005930.KRX", "--method", "grid", "--param", "var1=50:150:50",
                "--param", "var2=0.5", "--param", "avg_ticks=30", "--param", "betting=1000000",
                "--trials", "10", "--jobs", "1", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    board = json.loads(done.stdout)["leaderboard"]
    trades = {row["params"]["var1"]: row["metrics"]["trades"] for row in board}
    assert sorted(trades) == [50.0, 100.0, 150.0]
    # A lower 체결강도 threshold lets more entries through.
    assert trades[50.0] > trades[100.0] > trades[150.0]


def test_a_name_the_ticks_cannot_provide_is_refused_with_file_and_line(
    tmp_path: Path, imported: Path
) -> None:
    sell = tmp_path / "sell.txt"
    sell.write_text("# uses a Kiwoom field\nif 시가총액 > 1000:\n    매도 = True\n")
    done = stom(tmp_path, "backtest", "--stom-buy", str(BUY), "--stom-sell", str(sell),
                "--param", "var1=100", "--data", str(imported))  # fmt: skip
    assert done.returncode == 2
    assert f"{sell}:2: 시가총액 comes from Kiwoom" in done.stderr


def test_a_text_that_raises_stops_the_strategy_with_its_file_and_line(
    tmp_path: Path, imported: Path
) -> None:
    buy = tmp_path / "buy.txt"
    buy.write_text("if 데이터길이 > 40:\n    비율 = 1 / 0\nif 매수:\n    self.Buy()\n")
    done = stom(tmp_path, "backtest", "--stom-buy", str(buy), "--stom-sell", str(SELL),
                "--param", "var2=0.5", "--data", str(imported),
                "--instrument", "005930.KRX")  # fmt: skip
    assert done.returncode == 1
    assert f"{buy.resolve()}:2 in on_book: ZeroDivisionError" in done.stderr
    assert "Traceback" not in done.stderr


PAPER_BUY = "if not (데이터길이 >= 3 and 현재가 > 0):\n    매수 = False\nif 매수:\n    self.Buy()\n"
PAPER_SELL = "if 보유시간 >= 1:\n    매도 = True\nif 매도:\n    self.Sell()\n"
PAPER_WRAPPER = '''from engine.strategy.api import Param
from engine.strategy.stom_conditions import StomConditionStrategy


class PaperStom(StomConditionStrategy):
    """STOM texts on the simulator."""

    buy_file = "buy.txt"
    sell_file = "sell.txt"
'''


async def test_the_same_texts_trade_on_paper_in_the_engine(
    mosquitto: Broker, tmp_path: Path
) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "buy.txt").write_text(PAPER_BUY)
    (folder / "sell.txt").write_text(PAPER_SELL)
    (folder / "paper_stom.py").write_text(PAPER_WRAPPER)
    (folder / "broken.py").write_text(PAPER_WRAPPER.replace('"sell.txt"', '"broken.txt"'))
    (folder / "broken.txt").write_text("if 시분초 > 0:\n    매도 = 1 / 0\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategies]\ndir = "{folder}"\n'
        '[[strategies.enabled]]\nfile = "paper_stom.py"\nid = "stom"\n'
        'instruments = ["KRW-BTC.SIM"]\nparams = { betting = 200000.0, avg_ticks = 3 }\n'
        '[[strategies.enabled]]\nfile = "broken.py"\nid = "broken"\n'
        'instruments = ["KRW-BTC.SIM"]\nparams = { betting = 200000.0, avg_ticks = 3 }\n'
    )
    namespace = unique_namespace()
    engine = EngineProcess(mosquitto.url, namespace, extra=["--config", str(config)]).start()
    try:
        async with Observer(mosquitto.host, mosquitto.port, namespace) as seen:
            await seen.wait_status("running", 30)

            def row(strategy_id: str) -> StrategyInfo | None:
                listing = seen.latest(seen.topics.strategies, Strategies)
                rows = {r.id: r for r in listing.strategies} if listing else {}
                return rows.get(strategy_id)

            await seen.wait_for(
                lambda: (r := row("stom")) is not None and r.fills >= 2, 60, "the texts' fills"
            )
            stom_row = row("stom")
            assert stom_row is not None and stom_row.error is None and stom_row.state != "error"
            # A text that raises takes out only its own strategy, with the text's file:line.
            broken = await seen.wait_for(
                lambda: (r := row("broken")) is not None and r.error and r, 60, "the error"
            )
            assert f"{folder / 'broken.txt'}:2" in broken.error
    finally:
        engine.stop()
