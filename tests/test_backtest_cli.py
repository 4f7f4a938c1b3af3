"""``stom data sample`` then ``stom backtest … --json`` through real subprocesses (the backtest
itself in its worker process), and the stored result reopened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backtest.results import list_results, load_result

pytestmark = pytest.mark.integration

STRATEGIES = Path(__file__).parent / "strategies"


def stom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)  # no ~/.config/stom from the machine
    return subprocess.run(
        [sys.executable, "-m", "engine", "--set", f"data.dir={tmp_path / 'data'}", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_sample_then_backtest_json(tmp_path: Path) -> None:
    sample = stom(tmp_path, "data", "sample", "--days", "2", "--minutes", "1",
                  "--instruments", "KRW-BTC,KRW-ETH", "--seed", "3")  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    assert "KRW-BTC.SIM" in sample.stdout and "2026-01-05, 2026-01-06" in sample.stdout
    ticks = tmp_path / "data" / "ticks"
    assert sorted(p.name for p in ticks.glob("venue=SIM/instrument=*")) == [
        "instrument=KRW-BTC.SIM",
        "instrument=KRW-ETH.SIM",
    ]

    run = stom(tmp_path, "backtest", str(STRATEGIES / "two_ma.py"), "--data", str(ticks),
               "--from", "2026-01-05", "--to", "2026-01-06", "--param", "fast=4",
               "--param", "slow=12", "--param", "take_profit_bp=2", "--param", "stop_loss_bp=2",
               "--instrument", "KRW-BTC.SIM", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["strategy"] == "TwoMovingAverages"
    assert summary["params"]["fast"] == 4 and summary["instruments"] == ["KRW-BTC.SIM"]
    assert summary["fills"] > 0 and summary["trade_stats"]["trades"] > 0
    assert summary["ticks"] > 10_000
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "max_drawdown_duration_ns"):
        assert key in summary["metrics"] and key in summary["buy_and_hold"]

    results = tmp_path / "data" / "backtests"
    assert [s.id for s in list_results(results)] == [summary["id"]]
    stored = load_result(results, summary["id"])
    assert stored.fills.height == summary["fills"]
    assert stored.trades.height == summary["trade_stats"]["trades"]


def test_bad_input_is_named_and_changes_nothing(tmp_path: Path) -> None:
    stom(tmp_path, "data", "sample", "--days", "1", "--minutes", "0.2", "--instruments", "KRW-BTC")
    bad_param = stom(tmp_path, "backtest", str(STRATEGIES / "two_ma.py"), "--param", "fast=1")
    assert bad_param.returncode == 1
    assert "parameter fast: 1 is below its low bound 2" in bad_param.stderr
    bad_instrument = stom(tmp_path, "backtest", str(STRATEGIES / "two_ma.py"),
                          "--instrument", "NOPE.SIM")  # fmt: skip
    assert bad_instrument.returncode == 1
    assert "no recorded data for NOPE.SIM" in bad_instrument.stderr
    bad_symbol = stom(tmp_path, "data", "sample", "--instruments", "NOPE")
    assert bad_symbol.returncode == 2 and "NOPE" in bad_symbol.stderr
    assert not (tmp_path / "data" / "backtests").exists()


def test_a_run_whose_every_order_is_denied_says_why_and_fails(tmp_path: Path) -> None:
    sample = stom(tmp_path, "data", "sample", "--days", "1", "--minutes", "1",
                  "--instruments", "KRW-BTC", "--seed", "3")  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    run = stom(tmp_path, "--set", 'risk.max_order_notional={KRW="1000"}', "backtest",
               str(STRATEGIES / "two_ma.py"), "--data", str(tmp_path / "data" / "ticks"),
               "--param", "fast=4", "--param", "slow=12",
               "--instrument", "KRW-BTC.SIM")  # fmt: skip
    assert run.returncode == 1, run.stdout
    assert "orders were denied" in run.stderr and "max_order_notional" in run.stderr
    assert "Traceback" not in run.stderr
