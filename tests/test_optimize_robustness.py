"""Monte Carlo, terminal charts, the HTML report and walk-forward: units, then the commands
through real subprocesses on a small sample recording."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from engine.optimize.charts import drawdown_series, histogram, line_chart
from engine.optimize.montecarlo import simulate
from engine.optimize.walkforward import (
    PeriodFigures,
    WindowResult,
    efficiency,
    make_windows,
    parse_days,
)

STRATEGIES = Path(__file__).parent / "strategies"


# --- Monte Carlo ----------------------------------------------------------------------------


def test_shuffle_keeps_the_final_equity_and_spans_every_order() -> None:
    pnls = [-10.0, -10.0, 30.0]
    result = simulate(pnls, 100.0, runs=2_000, method="shuffle", seed=4)
    assert np.all(result.final_equity == 110.0)
    # By hand over the orders: -10,-10,+30 -> 20 deep; -10,+30,-10 -> 10; +30,-10,-10 -> 20
    # from the peak 130; so the drawdown amount is 10 or 20 and both happen.
    orders = {tuple(p) for p in itertools.permutations(pnls)}
    assert len(orders) == 3
    assert set(np.unique(result.max_drawdown_amount)) == {10.0, 20.0}
    assert result.summary.max_drawdown.p95 == pytest.approx(0.2)  # 20 below the start of 100
    assert result.summary.probability_of_ruin == 0.0


def test_bootstrap_is_seeded_and_finds_ruin() -> None:
    pnls = np.array([25.0, -40.0, 10.0, -5.0])
    first = simulate(pnls, 100.0, runs=5_000, method="bootstrap", seed=9)
    again = simulate(pnls, 100.0, runs=5_000, method="bootstrap", seed=9)
    other = simulate(pnls, 100.0, runs=5_000, method="bootstrap", seed=10)
    assert np.array_equal(first.final_equity, again.final_equity)
    assert first.summary == again.summary
    assert not np.array_equal(first.final_equity, other.final_equity)
    assert len(np.unique(first.final_equity)) > 5
    assert 0.0 < first.summary.probability_of_ruin < 1.0
    # Drawing -40 twice before anything else ruins (100 -> 20 <= 50): at least 1/16 of runs.
    assert first.summary.probability_of_ruin > 1 / 16
    expected = np.percentile(first.final_equity, [5, 50, 95])
    interval = first.summary.final_equity
    assert [interval.p5, interval.p50, interval.p95] == pytest.approx(list(expected))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": 0}, "runs must be at least 1"),
        ({"method": "jackknife"}, "method 'jackknife'"),
        ({"ruin_fraction": 1.5}, "ruin fraction"),
    ],
)
def test_bad_monte_carlo_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate([1.0, -1.0], 100.0, **kwargs)
    with pytest.raises(ValueError, match="no closed trades"):
        simulate([], 100.0)


# --- charts ---------------------------------------------------------------------------------


def test_charts_are_plain_lines_of_the_asked_size() -> None:
    equity = np.concatenate([np.linspace(100, 120, 300), np.linspace(120, 90, 300)])
    lines = line_chart(equity, width=40, height=6, title="equity")
    assert lines[0] == "equity" and len(lines) == 7
    assert all(len(line.split("│", 1)[1]) == 40 for line in lines[1:])
    assert lines[1].startswith("120") and lines[-1].lstrip().startswith("90")
    assert "█" in lines[-1]  # the bottom row is filled under every column
    drawdown = drawdown_series(equity)
    assert drawdown[299] == 0.0 and drawdown[-1] == pytest.approx(0.25)
    bars = histogram([1, 1, 1, 2, 3], bins=2, width=10)
    assert bars == ["1 .. 2 │██████████ 3", "2 .. 3 │███████ 2"]


# --- walk-forward windows -------------------------------------------------------------------


def test_windows_rolling_anchored_and_split() -> None:
    days = [date(2026, 1, d) for d in range(5, 12)]  # 7 recorded days
    rolling = make_windows(days, 3, 2, "rolling")
    assert [(w.train[0].day, w.train[-1].day, w.test[0].day, w.test[-1].day) for w in rolling] == [
        (5, 7, 8, 9),
        (7, 9, 10, 11),
    ]
    anchored = make_windows(days, 3, 2, "anchored")
    assert [(w.train[0].day, len(w.train), w.test[0].day) for w in anchored] == [
        (5, 3, 8),
        (5, 5, 10),
    ]
    assert len(make_windows(days, 3, 2, "split")) == 1
    with pytest.raises(ValueError, match="cannot hold 6 training and 2 test"):
        make_windows(days, 6, 2, "rolling")
    assert parse_days("5d", "--train") == 5
    with pytest.raises(ValueError, match="--test '1h'"):
        parse_days("1h", "--test")


def _figures(annualized: float | None) -> PeriodFigures:
    return PeriodFigures(start="", end="", total_return=0.0, annualized_return=annualized,
                         sharpe=None, max_drawdown=0.0, trades=1, pnl="0")  # fmt: skip


def test_efficiency_is_mean_oos_over_mean_is() -> None:
    windows = [
        WindowResult(number=1, best_params={}, trials=1, in_sample=_figures(0.4),
                     out_of_sample=_figures(0.1)),
        WindowResult(number=2, best_params={}, trials=1, in_sample=_figures(0.2),
                     out_of_sample=_figures(0.2)),
    ]  # fmt: skip
    assert efficiency(windows) == pytest.approx(0.15 / 0.3)
    assert efficiency([*windows[:1], windows[1].__class__(
        number=3, best_params={}, trials=1, in_sample=_figures(None), out_of_sample=_figures(1.0)
    )]) is None  # fmt: skip


# --- the commands, end to end ---------------------------------------------------------------


def stom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "engine", "--set", f"data.dir={tmp_path / 'data'}", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.mark.integration
def test_backtest_then_montecarlo_report_and_walkforward(tmp_path: Path) -> None:
    sample = stom(tmp_path, "data", "sample", "--days", "3", "--minutes", "0.3",
                  "--instruments", "KRW-BTC", "--seed", "5")  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    ticks = tmp_path / "data" / "ticks"
    run = stom(tmp_path, "backtest", str(STRATEGIES / "two_ma.py"), "--data", str(ticks),
               "--param", "fast=4", "--param", "slow=12", "--param", "take_profit_bp=2",
               "--param", "stop_loss_bp=2", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["trade_stats"]["trades"] >= 5
    result_id = summary["id"]

    mc = stom(tmp_path, "montecarlo", result_id, "--runs", "3000", "--seed", "2", "--json")
    assert mc.returncode == 0, mc.stderr
    figures = json.loads(mc.stdout)
    assert figures["runs"] == 3000 and figures["trades"] == summary["trade_stats"]["trades"]
    # A shuffle keeps the closed trades' sum: every run ends at the start plus that sum.
    stats = summary["trade_stats"]
    closed = float(summary["initial_equity"]) + stats["expectancy"] * stats["trades"]
    assert figures["final_equity"]["p5"] == pytest.approx(closed)
    assert figures["final_equity"]["p95"] == pytest.approx(closed)
    again = stom(tmp_path, "montecarlo", result_id, "--runs", "3000", "--seed", "2", "--json")
    assert json.loads(again.stdout) == figures
    text = stom(tmp_path, "montecarlo", result_id, "--method", "bootstrap", "--runs", "500")
    assert text.returncode == 0 and "probability of ruin" in text.stdout
    missing = stom(tmp_path, "montecarlo", "no-such-result")
    assert missing.returncode == 2 and "no-such-result" in missing.stderr

    html = tmp_path / "report.html"
    report = stom(tmp_path, "report", result_id, "--html", str(html), "--runs", "500")
    assert report.returncode == 0, report.stderr
    assert "equity (KRW)" in report.stdout and "█" in report.stdout
    page = html.read_text()
    assert page.count("<svg") == 4 and result_id in page and "Probability of ruin" in page

    wf = stom(tmp_path, "walkforward", str(STRATEGIES / "two_ma.py"), "--data", str(ticks),
              "--train", "1d", "--test", "1d", "--method", "grid", "--param", "fast=2:6:2",
              "--param", "slow=12", "--param", "take_profit_bp=2", "--param", "stop_loss_bp=2",
              "--objective", "total_return", "--jobs", "1", "--json")  # fmt: skip
    assert wf.returncode == 0, wf.stderr
    walk = json.loads(wf.stdout)
    assert walk["mode"] == "rolling" and len(walk["windows"]) == 2
    first, second = walk["windows"]
    assert first["in_sample"]["start"] == "2026-01-05" and first["out_of_sample"]["start"] == (
        "2026-01-06"
    )
    assert second["out_of_sample"]["start"] == "2026-01-07"
    assert first["best_params"]["fast"] in (2, 4, 6) and first["trials"] == 3
    assert "efficiency" in walk and walk["efficiency_definition"].startswith("mean out-of-sample")
    resumed = stom(tmp_path, "walkforward", str(STRATEGIES / "two_ma.py"), "--data", str(ticks),
                   "--train", "1d", "--test", "1d", "--method", "grid", "--param", "fast=2:6:2",
                   "--param", "slow=12", "--param", "take_profit_bp=2", "--param",
                   "stop_loss_bp=2", "--objective", "total_return", "--jobs", "1")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "window 2" in resumed.stdout and "walk-forward efficiency" in resumed.stdout
