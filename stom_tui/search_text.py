"""Parameter searches in words, shared by the optimizer and walk-forward screens: the objectives
the engine ranks by, parameter ranges typed by the user, parameter sets shown."""

from __future__ import annotations

from collections.abc import Mapping

OBJECTIVES = ("sharpe", "sortino", "return_over_drawdown", "profit_factor", "total_return")


def parse_ranges(text: str) -> dict[str, str]:
    """``fast=10:50:5 slow=100`` → ``{"fast": "10:50:5", "slow": "100"}``; ValueError names the
    bad item (the engine checks the numbers against the strategy's declared ranges)."""
    ranges: dict[str, str] = {}
    for item in text.split():
        name, eq, value = item.partition("=")
        if not eq or not name or not value:
            raise ValueError(f"{item!r}: expected name=low:high:step or name=value")
        ranges[name] = value
    return ranges


def format_params(params: Mapping[str, bool | int | float | str]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())
