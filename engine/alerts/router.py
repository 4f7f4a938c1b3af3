"""The alert router: collects engine events without blocking and fans them out by rules."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.alerts.events import Alert, AlertKind
from engine.alerts.rules import QuietHours, RateLimiter

log = logging.getLogger("stom.alerts")

QUEUE_LIMIT = 10_000
"""Alerts waiting to be routed; beyond this (a flood of fills) new ones are counted and dropped."""
CHANNEL_QUEUE_LIMIT = 1_000


class Sender(Protocol):
    """Delivers one text; raises on failure (the channel logs it and goes on)."""

    async def send(self, text: str) -> None: ...


@dataclass
class Channel:
    """One destination with its own rules, queue and sending task."""

    name: str
    sender: Sender
    events: frozenset[str]
    limiter: RateLimiter
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CHANNEL_QUEUE_LIMIT))
    sent: int = 0
    failed: int = 0

    async def run(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                await self.sender.send(text)
                self.sent += 1
            except Exception as exc:
                self.failed += 1
                log.warning("alert to %s not sent: %s", self.name, exc)
            finally:
                self.queue.task_done()


class AlertRouter:
    """``submit`` from anywhere on the loop (never blocks); ``run`` routes and sends."""

    def __init__(
        self,
        channels: Sequence[Channel],
        quiet: QuietHours,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        prefix: str = "",
    ) -> None:
        self.channels = list(channels)
        self.quiet = quiet
        self.monotonic = monotonic
        self.wall = wall
        self.prefix = prefix
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(QUEUE_LIMIT)
        self.overflow = 0
        self.quiet_dropped = 0
        self.watchers: list[Callable[[], list[Alert]]] = []
        """Polled once a second from the router's task (risk and feed state)."""
        self.extra_tasks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        """More coroutines to run beside the channels (the Telegram command poller)."""

    def submit(self, kind: AlertKind, text: str) -> None:
        try:
            self.queue.put_nowait(Alert(kind, text))
        except asyncio.QueueFull:
            self.overflow += 1

    def route(self, alert: Alert) -> None:
        """Apply each channel's rules and queue the text where it may go."""
        now_s, when = self.monotonic(), self.wall()
        if not self.quiet.lets_through(alert.kind, when):
            self.quiet_dropped += 1
            return
        for channel in self.channels:
            if alert.kind not in channel.events or not channel.limiter.allow(now_s):
                continue
            text = f"{self.prefix}{alert.text}"
            dropped = channel.limiter.take_dropped()
            if dropped:
                plural = "s" if dropped > 1 else ""
                text += f"\n({dropped} more alert{plural} dropped by the rate limit)"
            try:
                channel.queue.put_nowait(text)
            except asyncio.QueueFull:
                channel.failed += 1

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for channel in self.channels:
                group.create_task(channel.run(), name=f"alerts-{channel.name}")
            for make in self.extra_tasks:
                group.create_task(make(), name="alerts-extra")
            group.create_task(self._watch(), name="alerts-watch")
            while True:
                self.route(await self.queue.get())

    async def _watch(self) -> None:
        while True:
            for watcher in self.watchers:
                for alert in watcher():
                    self.submit(alert.kind, alert.text)
            await asyncio.sleep(1.0)

    async def drain(self, timeout: float) -> None:
        """Route what is queued and wait (bounded) for the channels to send it."""
        while not self.queue.empty():
            self.route(self.queue.get_nowait())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for channel in self.channels:
                    await channel.queue.join()
