"""Walk-forward analysis: optimize on a training window of recorded days, test the best parameters
on the days that follow, move on, and compare out-of-sample with in-sample results.

Windows are counted in recorded days (a day with data for any of the instruments):

* rolling: ``train`` days, then ``test`` days; the next window starts ``test`` days later;
* anchored: every training window starts at the first day and grows by ``test`` days;
* a train/test split is one window: the first ``train`` days and the ``test`` days after them.

Each window's optimization is a study of :mod:`engine.optimize.study` (search, objective and
executor of ``stom optimize``), stored under ``<root>/<name>/window-<n>``: a walk-forward run that
is interrupted resumes each window's study without repeating its finished trials. The best
parameters are then backtested on the training days (the in-sample figures) and on the test days
(out-of-sample).

Walk-forward efficiency (WFE) = mean out-of-sample annualized return / mean in-sample annualized
return over the windows (None when the in-sample mean is 0 or a figure is missing). A WFE near 1
says the optimized parameters kept their performance on unseen days; near 0 or negative, that
the optimization fitted noise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import msgspec

from engine.backtest.request import BacktestRequest, BacktestSummary
from engine.backtest.run import run_backtest
from engine.config.settings import Settings
from engine.optimize.driver import run_study, space_of
from engine.optimize.executors import LocalExecutor
from engine.optimize.study import Study, StudySpec
from engine.storage.tick_store import TickStore
from engine.strategy.loader import load_strategy_class

WFE_DEFINITION = "mean out-of-sample annualized return / mean in-sample annualized return"
_DAYS = re.compile(r"^\s*(\d+)\s*d?\s*$")


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: its training and test days (consecutive recorded days)."""

    number: int
    train: tuple[date, ...]
    test: tuple[date, ...]


class PeriodFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One backtest's headline figures (in-sample or out-of-sample)."""

    start: str
    end: str
    total_return: float
    annualized_return: float | None
    sharpe: float | None
    max_drawdown: float
    trades: int
    pnl: str


class WindowResult(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    best_params: dict[str, bool | int | float | str]
    trials: int
    in_sample: PeriodFigures
    out_of_sample: PeriodFigures


class WalkForwardResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``stom walkforward --json`` prints."""

    name: str
    mode: str
    """``rolling``, ``anchored`` or ``split``."""
    windows: list[WindowResult]
    efficiency: float | None
    efficiency_definition: str = WFE_DEFINITION


def parse_days(text: str, field: str) -> int:
    """``5d`` or ``5`` → 5; ValueError naming the option and value otherwise."""
    match = _DAYS.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{field} {text!r}: expected a number of recorded days such as 5d")
    return int(match.group(1))


def make_windows(days: list[date], train: int, test: int, mode: str) -> list[Window]:
    """The windows over ``days``; ValueError when not even one fits."""
    if mode not in ("rolling", "anchored", "split"):
        raise ValueError(f"walk-forward mode {mode!r}: use rolling, anchored or split")
    windows: list[Window] = []
    start = 0
    while start + train + test <= len(days):
        first = 0 if mode == "anchored" else start
        train_days = tuple(days[first : start + train])
        test_days = tuple(days[start + train : start + train + test])
        windows.append(Window(len(windows) + 1, train_days, test_days))
        if mode == "split":
            break
        start += test
    if not windows:
        raise ValueError(
            f"{len(days)} recorded day(s) cannot hold {train} training and {test} test day(s)"
        )
    return windows


def recorded_days(data_dir: str, instruments: list[str]) -> list[date]:
    store = TickStore(Path(data_dir))
    ids = instruments or store.instrument_ids()
    return sorted({day for iid in ids for day in store.days(iid)})


OnWindow = Callable[[WindowResult], None]


def run_walkforward(
    spec: StudySpec,
    settings: Settings,
    root: Path,
    name: str,
    *,
    train: int,
    test: int,
    mode: str = "rolling",
    jobs: int | None = None,
    on_window: OnWindow | None = None,
) -> WalkForwardResult:
    """Run every window. ``spec`` is the search (its start/end are set per window)."""
    cls = load_strategy_class(spec.strategy_file, spec.strategy_class)
    space = space_of(spec, cls)
    windows = make_windows(recorded_days(spec.data_dir, spec.instruments), train, test, mode)
    results = []
    for window in windows:
        window_spec = msgspec.structs.replace(
            spec, start=window.train[0].isoformat(), end=window.train[-1].isoformat()
        )
        study = Study.open(root / name, f"window-{window.number}", window_spec)
        executor = LocalExecutor(window_spec, settings, jobs)
        state = "failed"
        try:
            report = run_study(study, space, executor)
            state = report.state
        finally:
            executor.close()
            study.close(state)
        if report.best is None:
            raise ValueError(
                f"window {window.number} ({window.train[0]} .. {window.train[-1]}): no feasible "
                "parameter set (every trial failed or broke a constraint)"
            )
        params = dict(report.best.params)
        in_sample = _backtest(spec, settings, params, window.train)
        out_of_sample = _backtest(spec, settings, params, window.test)
        result = WindowResult(
            number=window.number,
            best_params=params,
            trials=report.progress.done,
            in_sample=_figures(in_sample),
            out_of_sample=_figures(out_of_sample),
        )
        results.append(result)
        if on_window is not None:
            on_window(result)
    return WalkForwardResult(name=name, mode=mode, windows=results, efficiency=efficiency(results))


def efficiency(windows: list[WindowResult]) -> float | None:
    """Walk-forward efficiency (see the module docstring)."""
    ins = [w.in_sample.annualized_return for w in windows]
    outs = [w.out_of_sample.annualized_return for w in windows]
    if not windows or any(v is None for v in (*ins, *outs)):
        return None
    mean_in = sum(v for v in ins if v is not None) / len(ins)  # none is None (checked above)
    mean_out = sum(v for v in outs if v is not None) / len(outs)
    return None if mean_in == 0 else mean_out / mean_in


def _backtest(
    spec: StudySpec,
    settings: Settings,
    params: dict[str, bool | int | float | str],
    days: tuple[date, ...],
) -> BacktestSummary:
    request = BacktestRequest(
        strategy_file=spec.strategy_file,
        strategy_class=spec.strategy_class,
        data_dir=spec.data_dir,
        results_dir="",
        params=params,
        instruments=list(spec.instruments),
        start=days[0].isoformat(),
        end=days[-1].isoformat(),
    )
    return run_backtest(request, settings).summary


def _figures(summary: BacktestSummary) -> PeriodFigures:
    return PeriodFigures(
        start=summary.start or "",
        end=summary.end or "",
        total_return=summary.metrics.total_return,
        annualized_return=summary.metrics.annualized_return,
        sharpe=summary.metrics.sharpe,
        max_drawdown=summary.metrics.max_drawdown,
        trades=summary.trade_stats.trades,
        pnl=summary.pnl,
    )
