"""The tick store names what it cannot read instead of skipping it, and a backtest on trades
without a book stops with the reason instead of "succeeding" with no trades (issue 15's traps),
through real ``stom`` subprocesses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.domain.market_data import TRADE
from engine.storage.tick_store import TickStore, TickStoreError, TickWriter
from tests.test_backtest_cli import stom

pytestmark = pytest.mark.integration

STRATEGIES = Path(__file__).parent / "strategies"


@pytest.fixture
def sampled(tmp_path: Path) -> Path:
    sample = stom(tmp_path, "data", "sample", "--days", "1", "--minutes", "1",
                  "--instruments", "KRW-BTC", "--seed", "5")  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    return tmp_path / "data" / "ticks"


def backtest(tmp_path: Path, ticks: Path) -> subprocess.CompletedProcess[str]:
    return stom(tmp_path, "backtest", str(STRATEGIES / "two_ma.py"), "--data", str(ticks),
                "--param", "fast=4", "--param", "slow=12", "--instrument", "KRW-BTC.SIM",
                "--json")  # fmt: skip


def test_a_misnamed_part_file_is_named_by_list_and_backtest(tmp_path: Path, sampled: Path) -> None:
    day_folder = next(sampled.glob("venue=SIM/instrument=KRW-BTC.SIM/date=*"))
    part = next(day_folder.glob("part-*.parquet"))
    stray = day_folder / "part-1.parquet"
    stray.write_bytes(part.read_bytes())

    listed = stom(tmp_path, "data", "list", "--json")
    assert listed.returncode == 2
    assert str(stray) in listed.stderr and "not a part file" in listed.stderr
    assert "Traceback" not in listed.stderr

    run = backtest(tmp_path, sampled)
    assert run.returncode != 0
    assert str(stray) in run.stderr and "Traceback" not in run.stderr

    stray.unlink()
    listed = stom(tmp_path, "data", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["instruments"][0]["rows"] > 0


def test_a_folder_that_is_not_a_date_is_named(tmp_path: Path, sampled: Path) -> None:
    folder = sampled / "venue=SIM" / "instrument=KRW-BTC.SIM" / "date=2026-13-01"
    folder.mkdir()
    with pytest.raises(TickStoreError, match="date=2026-13-01"):
        TickStore(sampled).days("KRW-BTC.SIM")


def test_a_crashed_writers_temporary_is_not_an_error(sampled: Path) -> None:
    day_folder = next(sampled.glob("venue=SIM/instrument=KRW-BTC.SIM/date=*"))
    (day_folder / ".part-0000000000000000001-0000000000000000001-000009.parquet.tmp").write_bytes(
        b"cut short"
    )
    store = TickStore(sampled)
    day = store.days("KRW-BTC.SIM")[0]
    assert store.parts("KRW-BTC.SIM", day)


def test_trades_without_a_book_stop_the_backtest_with_the_reason(
    tmp_path: Path, sampled: Path
) -> None:
    source = TickStore(sampled)
    instrument = source.instrument("KRW-BTC.SIM")
    day = source.days("KRW-BTC.SIM")[0]
    trades = source.read_day("KRW-BTC.SIM", day, has_book=False).filter(
        source.read_day("KRW-BTC.SIM", day, has_book=False)["kind"] == TRADE
    )
    assert trades.height > 100
    bare = tmp_path / "trades-only"
    writer = TickWriter(bare, instrument, 0, session=1)
    for row in trades.iter_rows(named=True):
        writer.append(
            TRADE, row["side"], row["price"], row["size"], row["ts_event"], row["ts_init"]
        )
    writer.close()

    run = backtest(tmp_path, bare)
    assert run.returncode != 0, run.stdout
    assert "no order book" in run.stderr and "KRW-BTC.SIM" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_damaged_part_file_is_named_by_list_and_backtest(tmp_path: Path, sampled: Path) -> None:
    """A part cut short (a disk filled, a copy interrupted): polars' own error names no file."""
    day_folder = next(sampled.glob("venue=SIM/instrument=KRW-BTC.SIM/date=*"))
    part = sorted(day_folder.glob("part-*.parquet"))[-1]
    whole = part.read_bytes()
    part.write_bytes(whole[: len(whole) // 2])

    listed = stom(tmp_path, "data", "list", "--json")
    assert listed.returncode == 2, listed.stdout
    assert f"{part}: damaged part file" in listed.stderr, listed.stderr
    assert "Traceback" not in listed.stderr

    run = backtest(tmp_path, sampled)
    assert run.returncode != 0, run.stdout
    assert f"{part}: damaged part file" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr

    part.write_bytes(whole)
    assert backtest(tmp_path, sampled).returncode == 0
