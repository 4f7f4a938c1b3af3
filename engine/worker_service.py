"""The engine side of work that runs in a worker process (backtests, optimizations).

The engine never waits on the worker: a task polls its queue a few times a second while a run is
going (and sleeps otherwise), and the service publishes what it hears on the bus.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from engine.config.settings import Settings
from engine.outbox import Outbox
from engine.protocol.topics import Topics

POLL_S = 0.2
"""How often a running worker's news is read."""


class WorkerService:
    """One worker run at a time: the engine task, the run counter, and the idle wait.

    Subclasses set ``_worker`` (anything with a ``finished`` property) when a run starts, call
    :meth:`wake`, and implement :meth:`poll`.
    """

    def __init__(
        self, settings: Settings, outbox: Outbox, topics: Topics, now_ns: Callable[[], int]
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.topics = topics
        self.now_ns = now_ns
        self._worker: Any = None
        self._run_id = ""
        self._strategy = ""
        self._runs = itertools.count(1)
        self._wake = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.finished

    def wake(self) -> None:
        """A run started: the engine task follows it."""
        self._wake.set()

    async def run(self) -> None:
        """The engine task: follow the worker while one runs (idle otherwise)."""
        while True:
            if not self.running:
                self._wake.clear()
                await self._wake.wait()
            self.poll()
            await asyncio.sleep(POLL_S)

    def poll(self) -> None:
        """Read the worker's news and publish it (no waiting)."""
        raise NotImplementedError
