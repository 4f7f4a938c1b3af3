"""Waiting with a time limit (for an event, for a frame), without losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), timeout)`` swallows a cancellation that lands
as the wait ends (the event set, or the time up): the task goes on as if never cancelled, and a
loop that waits that way (the recorder's flush, the bus's flush, a feed's wake-up, a backoff)
never stops. ``asyncio.timeout`` tells its own cancellation from the caller's.
``tests/test_recorder.py`` cancels a recorder at 400 random moments; with ``wait_for`` about one
in fifty was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; True when it is set. A cancellation
    always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def receive_within(receive: Callable[[], Awaitable[T]], timeout_s: float, why: str) -> T:
    """``await receive()`` (a socket's next frame) if it comes within ``timeout_s``; else a
    ``TimeoutError`` saying the connection is taken for dead and ``why`` it should have spoken.
    A cancellation always propagates (as :func:`wait_event`)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await receive()
    except TimeoutError:
        raise TimeoutError(
            f"nothing received for {timeout_s:g} s ({why}): taken for dead"
        ) from None
