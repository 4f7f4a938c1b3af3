"""The leaderboard as a rich table (CLI) and a run's result as JSON-safe data (``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from rich.table import Table

from engine.optimize.driver import Report
from engine.optimize.space import SearchSpace
from engine.optimize.study import TrialRecord


def leaderboard_table(records: list[TrialRecord], space: SearchSpace, objective: str) -> Table:
    names = [d.name for d in space.dimensions]
    table = Table(title="leaderboard", title_justify="left")
    table.add_column("#", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column(objective, justify="right")
    for column in ("return", "drawdown", "trades"):
        table.add_column(column, justify="right")
    table.add_column("note")
    for rank, record in enumerate(records, 1):
        m = record.metrics
        table.add_row(
            str(rank),
            *(str(record.params.get(name, "")) for name in names),
            "infeasible" if record.score is None else f"{record.score:.4g}",
            "-" if m is None else f"{m.total_return:.3%}",
            "-" if m is None else f"{m.max_drawdown:.3%}",
            "-" if m is None else str(m.trades),
            record.reason,
        )
    return table


def record_json(record: TrialRecord) -> dict[str, Any]:
    return msgspec.to_builtins(record)


def report_json(report: Report, name: str, path: Path, top: int) -> dict[str, Any]:
    progress = report.progress
    return {
        "study": name,
        "study_file": str(path),
        "state": report.state,
        "trials": progress.done,
        "evaluated": progress.evaluated,
        "resumed": progress.resumed,
        "stopped_early": report.stopped or None,
        "best": None if report.best is None else record_json(report.best),
        "leaderboard": [record_json(r) for r in progress.leaderboard[:top]],
    }
