"""One backoff for every reconnect loop and bounded request retry in the engine.

Exponential with *full jitter* (AWS architecture blog, "Exponential Backoff and Jitter"): the
n-th wait is drawn uniformly from ``[0, min(max_s, first_s * 2**n))`` so that many clients dropped
at once do not come back in lockstep. A venue's ``Retry-After`` (or a ban's) is a floor the wait
never goes under: the venue said when it will answer again. :meth:`Backoff.reset` after a success
starts again from ``first_s``.

Tests make it instant by passing ``first_s=0`` (every wait is then the Retry-After floor alone,
or nothing), or their own ``sleep``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.event_wait import wait_event

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]


class Backoff:
    """Exponential backoff with full jitter, reset on success, floored by Retry-After."""

    __slots__ = ("_attempt", "_rng", "_sleep", "first_s", "max_s")

    def __init__(
        self,
        first_s: float = 0.25,
        max_s: float = 30.0,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if first_s < 0 or max_s < first_s:
            raise ValueError(f"backoff needs 0 <= first_s <= max_s, got {first_s}, {max_s}")
        self.first_s = first_s
        self.max_s = max_s
        self._attempt = 0
        self._rng = rng or random.Random()
        self._sleep: Sleep = sleep or asyncio.sleep

    @property
    def attempt(self) -> int:
        """How many waits since the last reset."""
        return self._attempt

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """The next wait in seconds; advances the attempt count."""
        cap = min(self.max_s, self.first_s * (2 ** min(self._attempt, 30)))
        self._attempt += 1
        delay = self._rng.uniform(0.0, cap) if cap > 0 else 0.0
        if retry_after_s is not None and retry_after_s > delay:
            return float(retry_after_s)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits from ``first_s`` again."""
        self._attempt = 0

    async def wait(
        self, retry_after_s: float | None = None, stop: asyncio.Event | None = None
    ) -> bool:
        """Sleep the next delay; True when ``stop`` was set meanwhile (the caller should end)."""
        delay = self.next_delay(retry_after_s)
        if stop is None:
            await self._sleep(delay)
            return False
        if stop.is_set():
            return True
        return await wait_event(stop, delay)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    retryable: tuple[type[BaseException], ...],
    retry_after: Callable[[BaseException], float | None] = lambda _exc: None,
) -> T:
    """Call ``call`` up to ``attempts`` times, waiting ``backoff`` between retryable failures.

    The last failure is raised as it was; anything not ``retryable`` is raised at once.
    """
    if attempts < 1:
        raise ValueError(f"retry needs attempts >= 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            result = await call()
        except retryable as exc:
            if attempt == attempts:
                raise
            await backoff.wait(retry_after(exc))
        else:
            backoff.reset()
            return result
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
