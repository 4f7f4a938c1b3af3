"""The Telegram command poller backs off through engine/backoff.py and honours flood control."""

from __future__ import annotations

import httpx
import pytest

from engine.alerts.bot_commands import BotCommands
from engine.alerts.telegram import TelegramApi, TelegramError
from engine.backoff import Backoff
from engine.config.secrets import Secret


class Stop(Exception):
    """Ends the poller's endless loop in a test."""


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)


class ScriptedApi:
    """getUpdates answers from a script: an exception to raise or a list of updates."""

    def __init__(self, script: list[BaseException | list[dict[str, object]]]) -> None:
        self.script = script

    async def get_updates(self, offset: int | None, timeout_s: int) -> list[dict[str, object]]:
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class NoControls:
    def status_text(self) -> str:
        return ""

    def positions_text(self) -> str:
        return ""

    def pause(self, reason: str) -> str:
        return ""

    def resume(self) -> str:
        return ""

    def kill(self, reason: str) -> str:
        return ""


async def test_failures_wait_through_the_backoff_floored_by_retry_after_and_reset() -> None:
    sleeps = Sleeps()
    backoff = Backoff(0, 0, sleep=sleeps)
    api = ScriptedApi(
        [TelegramError("HTTP 502"), TelegramError("HTTP 429", retry_after_s=7.0), [], Stop()]
    )
    bot = BotCommands(api, NoControls(), [1], poll_timeout_s=1, backoff=backoff)
    with pytest.raises(Stop):
        await bot.run()
    assert sleeps.waits == [0.0, 7.0]
    assert backoff.attempt == 0  # the answered poll reset it


async def test_the_bot_api_flood_control_retry_after_reaches_the_error() -> None:
    def flood(request: httpx.Request) -> httpx.Response:
        body = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 12",
            "parameters": {"retry_after": 12},
        }
        return httpx.Response(429, json=body)

    api = TelegramApi("https://api.telegram.org", Secret("123:abc"))
    await api.close()
    api._client = httpx.AsyncClient(transport=httpx.MockTransport(flood))
    try:
        with pytest.raises(TelegramError) as raised:
            await api.get_updates(None, 1)
    finally:
        await api.close()
    assert raised.value.retry_after_s == 12.0
    assert "123:abc" not in str(raised.value)
