"""Optimization payloads: the progress and leaderboard of the engine's optimization run, and
the stored studies (``optimize.run`` / ``cancel`` / ``list``).

Scores and returns are floats (estimates); a ``score`` of null marks an infeasible or failed
trial, and ``reason`` says why. Timestamps are integer ns UTC.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.protocol.payloads import Payload

OptimizeStateText = Literal["starting", "running", "done", "cancelled", "failed"]


class TrialInfo(msgspec.Struct, kw_only=True):
    """One finished parameter set (a leaderboard row)."""

    params: dict[str, bool | int | float | str]
    score: float | None
    """The objective's value; null: infeasible or failed (see ``reason``)."""
    total_return: float | None
    max_drawdown: float | None
    trades: int | None
    reason: str = ""


class OptimizeProgress(Payload, kw_only=True):
    """Retained at ``optimize/progress``: the newest run, conflated (one per finished trial at
    most, and at least its start and end)."""

    ts: int
    run_id: str
    study: str
    strategy: str
    method: str
    objective: str
    state: OptimizeStateText
    done: int
    """Trials stored (including those of earlier sessions of a resumed study)."""
    total: int
    """The budget: most trials the run may evaluate."""
    evaluated: int
    """Trials this run evaluated."""
    leaderboard: list[TrialInfo]
    """Best first (at most 10)."""
    stopped: str = ""
    """Why a genetic search ended before the budget."""
    error: str | None = None


class StudyListing(msgspec.Struct, kw_only=True):
    """One stored study, as ``optimize.list`` lists it."""

    study: str
    strategy: str
    method: str
    objective: str
    trials: int
    best: TrialInfo | None
