"""Where strategy code failed, named for the user: its file, and the innermost line of that file
in a traceback or on the current stack; and a strategy constructed under the barrier, so that a
constructor that raises is named by file and line like any callback (see
:mod:`engine.strategy.guard`)."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Mapping
from types import SimpleNamespace

from engine.strategy.api import Strategy
from engine.strategy.context import OmsStrategyContext
from engine.strategy.guard import WATCHDOG


def source_of(strategy_cls: type[Strategy]) -> str:
    """The file a strategy class was loaded from ('' when it cannot be told)."""
    try:
        found = inspect.getsourcefile(strategy_cls)
    except TypeError:
        found = None
    if found:
        return found
    # A file loaded by path is no longer in sys.modules: its methods still know their file.
    for value in vars(strategy_cls).values():
        code = getattr(value, "__code__", None)
        if code is not None:
            return str(code.co_filename)
    return ""


def failure_site(exc: BaseException, source: str) -> str:
    """``file:line`` of the innermost frame in the strategy's file (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [frame for frame in frames if source and frame.filename == source]
    if not inside and source:
        return source  # raised after its code returned (a tamper check): the file, no line
    # Not the watchdog's own frame (an overrun is raised from its signal handler).
    candidates = inside or [frame for frame in frames if frame.filename != _GUARD_FILE] or frames
    if not candidates:
        return source or "<unknown>"
    frame = candidates[-1]
    return f"{frame.filename}:{frame.lineno}"


_GUARD_FILE = inspect.getsourcefile(WATCHDOG.call) or ""


def stack_site(source: str) -> str:
    """``file:line`` of the innermost frame in the strategy's file on the current stack."""
    inside = [frame for frame in traceback.extract_stack() if source and frame.filename == source]
    return f"{source}:{inside[-1].lineno}" if inside else source or "<unknown>"


def construct(
    strategy_cls: type[Strategy],
    ctx: OmsStrategyContext,
    params: Mapping[str, object] | None,
    strategy_id: str,
    source: str,
) -> Strategy:
    """``strategy_cls(ctx, params)`` under the load budget and the barrier: a ValueError (a bad
    parameter) passes as it is; anything else becomes a ValueError with file:line."""
    owner = SimpleNamespace(strategy_id=strategy_id, source=source)
    try:
        return WATCHDOG.call(owner, WATCHDOG.load_budget_s, strategy_cls, ctx, params)
    except ValueError:
        raise
    except BaseException as exc:
        raise ValueError(
            f"{failure_site(exc, source)} in __init__: {type(exc).__name__}: {exc}"
        ) from None
