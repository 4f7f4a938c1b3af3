"""Supervising the engine's tasks: no task ends silently while the engine keeps serving.

Every long-lived task runs until the engine stops. One that raises, returns or is cancelled before
that is a fault; so is a command left unanswered for longer than the keepalive (a hung handler
leaves every later command unanswered while heartbeats go on: the "zombie" of issue 12), and so is
a signal whose default would kill the process without a word. The node then says ``offline`` with
the reason, alerts, stops everything and exits non-zero so the service manager restarts it
(docs/deploy.md, "When the engine dies").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from engine.bus import WILL_REASON, describe_exception
from engine.protocol import payloads as p

log = logging.getLogger("stom.node")

FATAL_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
    if hasattr(signal, name)
)
"""Signals whose default action ends the process without cleanup. SIGTERM and SIGINT are the
clean stop; SIGKILL cannot be caught (the broker's last will speaks for it)."""

WATCH_INTERVAL_S = 0.25

MIN_COMMAND_LIMIT_S = 5.0
"""A command is a fault after the keepalive, but never sooner than this (the default keepalive):
a short test keepalive must not turn one slow disk read on a loaded machine into a restart."""


class EngineFault(Exception):
    """The engine is dying; ``str()`` is the reason published in ``engine/status``."""


class TaskSupervisor:
    """The engine's named tasks and the one reason, if any, the engine is dying."""

    def __init__(self) -> None:
        self.tasks: dict[asyncio.Task[Any], str] = {}
        self.fault: str | None = None
        self._woken = asyncio.Event()

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self.tasks[task] = name
        return task

    def fail(self, reason: str) -> None:
        """A fault found outside a task (a signal, the watchdog): the first reason wins."""
        if self.fault is None:
            self.fault = reason
        self._woken.set()

    def install_signals(self) -> Callable[[], None]:
        """Turn fatal signals into faults with their name; returns the undo."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in FATAL_SIGNALS:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(
                    sig, self.fail, f"killed by signal {signal.Signals(sig).name}"
                )
                installed.append(sig)

        def undo() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return undo

    async def wait(self, stop: asyncio.Event) -> str | None:
        """Until ``stop`` (None: a clean stop) or the first fault (its reason)."""
        stopped = asyncio.create_task(stop.wait(), name="stop-wait")
        woken = asyncio.create_task(self._woken.wait(), name="fault-wait")
        try:
            while self.fault is None and not stop.is_set():
                waiting = {stopped, woken, *self.tasks}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    name = self.tasks.get(task)
                    if name is not None:
                        self.fail(task_fault(name, task))
        finally:
            stopped.cancel()
            woken.cancel()
        return self.fault

    def cancel_all(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def finish(self, timeout_s: float) -> None:
        """Wait for cancelled tasks to end (bounded); their errors are already accounted for."""
        pending = [task for task in self.tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        for task in self.tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" at exit


def died_silently(status: p.EngineStatus) -> bool:
    """An engine's last word was its will (or nothing): a fault says, and alerts, itself."""
    return status.state == "offline" and status.reason in (None, WILL_REASON)


def task_fault(name: str, task: asyncio.Task[Any]) -> str:
    """Why a task that should run until the engine stops ended."""
    if task.cancelled():
        return f"{name} task was cancelled"
    exc = task.exception()
    if exc is None:
        return f"{name} task ended unexpectedly"
    if isinstance(exc, EngineFault):
        return str(exc)
    return f"{name} task failed: {describe_exception(exc)}"


async def command_watchdog(
    age: Callable[[float], tuple[str, float] | None], limit_s: float
) -> None:
    """Raise :class:`EngineFault` when a command has waited for its answer over ``limit_s``."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        pending = age(loop.time())
        if pending is not None and pending[1] > limit_s:
            what, waited = pending
            raise EngineFault(
                f"command {what} unanswered for {waited:.1f} s (longer than the keepalive,"
                f" {limit_s:g} s): the engine stopped serving commands"
            )
