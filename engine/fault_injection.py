"""Fault injection for the engine's death tests; inert unless ``STOM_INJECT_FAULT`` is set.

The engine promises that no task ends silently: whatever fails, the retained ``engine/status``
says ``offline`` with the reason and the process exits non-zero (docs/deploy.md, "When the engine
dies"). The tests prove it for each long-lived task of a real engine subprocess. Real faults are
used where one lasts (a kill -9, an unhandled signal), but the faults that exposed the problem are
being fixed one by one (a strategy that raises is isolated, a full disk degrades), so a stable
switch is needed for the rest. It is read once, from the environment only (never from
``config.toml``), and does nothing when unset:

``STOM_INJECT_FAULT=<point>:<seconds>``
    After the engine has run for ``<seconds>``, the named point raises :class:`InjectedFault`
    inside its own task: ``market`` (the market loop), ``stats`` (the heartbeat loop),
    ``strategy-files`` (hot reload), ``bus`` (the bus flush, inside the bus task),
    ``bus-reader`` (the next message the bus reads, e.g. a command), ``journal``
    (journaling the next fill fails, as a full disk would, in the market loop that applies it)
    and ``feed`` (every venue feed task). ``market-exit`` raises ``SystemExit`` in the market
    loop (it ends the event loop, past the node's supervision). ``hang`` is not an exception:
    the next ``ping`` never returns, which the command watchdog must treat as a fault.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from typing import Any

ENV = "STOM_INJECT_FAULT"
POINTS = frozenset(
    {
        "market",
        "market-exit",
        "stats",
        "strategy-files",
        "bus",
        "bus-reader",
        "journal",
        "feed",
        "hang",
    }
)


class InjectedFault(RuntimeError):
    """The exception a test asked for; its message names the point."""


class FaultPlan:
    """One planned fault: where and how long after :meth:`arm`."""

    def __init__(self, point: str, after_s: float) -> None:
        self.point = point
        self.after_s = after_s
        self._due: float | None = None

    def arm(self) -> None:
        """Start the clock (the engine is running and connected)."""
        self._due = time.monotonic() + self.after_s

    def due(self, point: str) -> bool:
        return point == self.point and self._due is not None and time.monotonic() >= self._due


def _parse(value: str | None) -> FaultPlan | None:
    if not value:
        return None
    point, _, after = value.partition(":")
    if point not in POINTS:
        raise ValueError(f"{ENV}: unknown point {point!r} (points: {', '.join(sorted(POINTS))})")
    return FaultPlan(point, float(after or 0))


PLAN: FaultPlan | None = _parse(os.environ.get(ENV))
"""None (the default): every function below does nothing."""


def arm() -> None:
    if PLAN is not None:
        PLAN.arm()


def check(point: str) -> None:
    """Raise :class:`InjectedFault` if a test planned a fault at ``point`` and it is due."""
    if PLAN is not None and PLAN.due(point):
        raise InjectedFault(f"injected fault in {point}")
    if PLAN is not None and PLAN.due(f"{point}-exit"):
        raise SystemExit(3)  # what a stray sys.exit() does: it ends the event loop itself


async def hang_if_planned() -> None:
    """A command handler that never returns, when ``hang`` is planned and due."""
    if PLAN is not None and PLAN.due("hang"):
        await asyncio.Event().wait()


def watch_journal(journal: Any) -> None:
    """Make journaling the next fill fail once ``journal`` is due (finding 12's full disk)."""
    if PLAN is None or PLAN.point != "journal":
        return
    append = journal.append

    def failing_append(events: Any, *args: Any, **kwargs: Any) -> Any:
        fill = any(type(event).__name__ == "OrderFilled" for event in events)
        if fill and PLAN is not None and PLAN.due("journal"):
            raise InjectedFault("injected fault in journal: writing a fill failed")
        return append(events, *args, **kwargs)

    journal.append = failing_append


def watch_task(point: str, work: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None]:
    """``work`` unchanged, or (when ``point`` is planned) ``work`` that raises once due."""
    if PLAN is None or PLAN.point != point:
        return work
    return _failing(point, work)


async def _failing(point: str, work: Coroutine[Any, Any, None]) -> None:
    async def fail() -> None:
        while True:
            check(point)
            await asyncio.sleep(0.05)

    async with asyncio.TaskGroup() as group:
        group.create_task(work)
        group.create_task(fail())
