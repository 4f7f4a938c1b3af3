"""``[strategies]``: where strategy files live and which ones the engine runs.

Each ``[[strategies.enabled]]`` entry names a file under ``dir`` (loaded by path; see
``engine/strategy/loader.py``), the instruments it trades, parameter values (checked against the
strategy's declared ranges when it loads) and its own risk budget.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import msgspec

_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


class StrategyBudgetSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One strategy's own limits, in its instruments' quote currency (empty: no own limit; the
    engine's ``[risk]`` limits apply to every order anyway)."""

    max_order_notional: str = ""
    """Largest value of one order that adds to the position."""
    max_position_notional: str = ""
    """Largest value of the strategy's position per instrument, open orders included."""


class StrategyEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One strategy the engine runs."""

    file: str
    """The strategy file, relative to ``[strategies] dir`` (or absolute)."""
    id: str = ""
    """Its id in the console and commands; empty: the file name without ``.py``."""
    class_name: str = ""
    """The class to run when the file defines several; empty: the only one."""
    instruments: list[str] = msgspec.field(default_factory=list)
    """Instrument ids it trades; empty: the class's ``instruments``."""
    params: dict[str, bool | int | float | str] = msgspec.field(default_factory=dict)
    """Parameter values; the rest keep their declared defaults."""
    enabled: bool = True
    """Start it running (false: listed, and ``t`` in the console starts it)."""
    budget: StrategyBudgetSettings = msgspec.field(default_factory=StrategyBudgetSettings)

    @property
    def strategy_id(self) -> str:
        return self.id or self.file.replace("\\", "/").rpartition("/")[2].removesuffix(".py")


class StrategiesSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Strategy files and the strategies the engine runs."""

    dir: str = "strategies"
    """Folder of strategy files (relative to the working directory)."""
    reload_s: float = 1.0
    """How often the engine checks the files of its strategies for edits (hot reload)."""
    callback_budget_s: float = 1.0
    """Longest one strategy callback may run before the strategy is disabled (the watchdog)."""
    load_budget_s: float = 5.0
    """Longest a strategy's import, ``__init__``, ``on_start`` or ``save_state`` may run."""
    enabled: list[StrategyEntry] = msgspec.field(default_factory=list)
    """Strategies to run; none by default."""


def check_strategies(settings: StrategiesSettings) -> list[tuple[str, str, str]]:
    """``(section, key, reason)`` for every bad value under ``[strategies]``."""
    problems: list[tuple[str, str, str]] = []
    if not 0.1 <= settings.reload_s <= 60:  # written so NaN fails too
        problems.append(("strategies", "reload_s", "expected 0.1 to 60 seconds"))
    for key in ("callback_budget_s", "load_budget_s"):
        if not 0.01 <= getattr(settings, key) <= 600:  # written so NaN fails too
            problems.append(("strategies", key, "expected 0.01 to 600 seconds"))
    seen: set[str] = set()
    for n, entry in enumerate(settings.enabled):
        where = f"entry {n + 1} ({entry.file})"
        if not entry.file.endswith(".py"):
            problems.append(("strategies", "enabled", f"{where}: file: expected a .py file"))
        strategy_id = entry.strategy_id
        if not _ID_RE.match(strategy_id):
            reason = f"{where}: id {strategy_id!r} must be 1-40 letters, digits, '_' or '-'"
            problems.append(("strategies", "enabled", reason))
        elif strategy_id in seen:
            reason = f"{where}: id {strategy_id!r} is used twice (set id to tell them apart)"
            problems.append(("strategies", "enabled", reason))
        seen.add(strategy_id)
        for name in ("max_order_notional", "max_position_notional"):
            text = getattr(entry.budget, name)
            if text and not _positive_decimal(text):
                reason = f"{where}: budget.{name}: expected a positive decimal amount, not {text!r}"
                problems.append(("strategies", "enabled", reason))
    return problems


def budget_decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _positive_decimal(text: str) -> bool:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False
    return value.is_finite() and value > 0
