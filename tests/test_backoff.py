"""engine/backoff.py: full jitter within its cap, the Retry-After floor, reset, stop, retry()."""

from __future__ import annotations

import asyncio
import random

import pytest

from engine.backoff import Backoff, retry


class Sleeps:
    """A fake sleep that records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)


def test_each_wait_is_drawn_from_zero_to_a_doubling_cap() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(7))
    for attempt, cap in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        samples = []
        for _ in range(200):
            backoff._attempt = attempt  # the n-th wait, over and over
            samples.append(backoff.next_delay())
        assert all(0.0 <= delay <= cap for delay in samples)
        # Full jitter spreads over the whole range (not "cap plus a little"): both halves hit.
        assert min(samples) < cap / 4 and max(samples) > cap * 3 / 4


def test_the_attempt_count_advances_and_reset_starts_again_from_the_first_wait() -> None:
    backoff = Backoff(1.0, 64.0, rng=random.Random(1))
    for _ in range(6):
        backoff.next_delay()
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.attempt == 0
    firsts = []
    for _ in range(50):
        for _ in range(6):
            backoff.next_delay()
        backoff.reset()
        firsts.append(backoff.next_delay())
    # After a reset the cap is first_s again (without one, the 7th wait's cap is 64 s).
    assert max(firsts) <= 1.0


def test_a_huge_attempt_count_stays_at_the_cap() -> None:
    backoff = Backoff(0.1, 3.0, rng=random.Random(3))
    backoff._attempt = 10_000  # 2**10000 would overflow a float
    assert 0.0 <= backoff.next_delay() <= 3.0


def test_retry_after_is_a_floor_never_a_cap() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(5))
    # Early on the jittered wait is short: the venue's Retry-After wins.
    assert backoff.next_delay(retry_after_s=30.0) == 30.0
    # Later the jittered wait may be longer than a small Retry-After: it is never cut to it.
    backoff._attempt = 10
    waits = [backoff.next_delay(retry_after_s=0.01) for _ in range(50)]
    assert all(wait >= 0.01 for wait in waits) and max(waits) > 1.0


def test_first_s_zero_makes_it_instant_except_for_retry_after() -> None:
    backoff = Backoff(0, 0)
    assert [backoff.next_delay() for _ in range(5)] == [0.0] * 5
    assert backoff.next_delay(retry_after_s=2.5) == 2.5


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="first_s <= max_s"):
        Backoff(5.0, 1.0)
    with pytest.raises(ValueError, match="first_s <= max_s"):
        Backoff(-1.0, 1.0)


async def test_wait_sleeps_the_next_delay() -> None:
    sleeps = Sleeps()
    backoff = Backoff(0, 0, sleep=sleeps)
    assert await backoff.wait(retry_after_s=1.5) is False
    assert await backoff.wait() is False
    assert sleeps.waits == [1.5, 0.0]


async def test_wait_ends_early_when_stop_is_set() -> None:
    stop = asyncio.Event()
    backoff = Backoff(60.0, 60.0, rng=random.Random(0))
    backoff._attempt = 5  # a long wait, so only the stop can end it within the test
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, stop.set)
    started = loop.time()
    assert await backoff.wait(retry_after_s=30.0, stop=stop) is True
    assert loop.time() - started < 5.0


async def test_wait_with_stop_already_set_returns_at_once() -> None:
    stop = asyncio.Event()
    stop.set()
    assert await Backoff(60.0, 60.0).wait(retry_after_s=30.0, stop=stop) is True


async def test_wait_with_stop_not_set_waits_out_the_delay() -> None:
    assert await Backoff(0, 0).wait(retry_after_s=0.01, stop=asyncio.Event()) is False


class Flaky:
    """Fails ``failures`` times with ``error``, then answers ``"ok"``."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


class Busy(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"busy for {retry_after_s} s")
        self.retry_after_s = retry_after_s


async def test_retry_returns_after_retryable_failures_and_resets_the_backoff() -> None:
    sleeps = Sleeps()
    backoff = Backoff(0, 0, sleep=sleeps)
    call = Flaky(2, Busy(0.25))
    result = await retry(
        call,
        attempts=3,
        backoff=backoff,
        retryable=(Busy,),
        retry_after=lambda exc: exc.retry_after_s if isinstance(exc, Busy) else None,
    )
    assert result == "ok" and call.calls == 3
    assert sleeps.waits == [0.25, 0.25]  # each wait floored by the venue's Retry-After
    assert backoff.attempt == 0  # the success reset it


async def test_retry_raises_the_last_failure_once_attempts_run_out() -> None:
    sleeps = Sleeps()
    call = Flaky(5, Busy(0.0))
    with pytest.raises(Busy):
        await retry(call, attempts=3, backoff=Backoff(0, 0, sleep=sleeps), retryable=(Busy,))
    assert call.calls == 3 and len(sleeps.waits) == 2  # no wait after the last try


async def test_retry_raises_a_non_retryable_failure_at_once() -> None:
    sleeps = Sleeps()
    call = Flaky(1, KeyError("no such order"))
    with pytest.raises(KeyError):
        await retry(call, attempts=5, backoff=Backoff(0, 0, sleep=sleeps), retryable=(Busy,))
    assert call.calls == 1 and sleeps.waits == []


async def test_retry_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        await retry(Flaky(0, Busy(0)), attempts=0, backoff=Backoff(0, 0), retryable=(Busy,))
