"""Commands from Telegram: /status, /positions, /pause, /resume, /kill (with a confirm).

Only the configured chat ids are heard. A message from any other chat gets no reply and does
nothing (it is only counted and logged), so a stranger who finds the bot learns nothing from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from engine.alerts.telegram import TelegramApi, TelegramError
from engine.backoff import Backoff

log = logging.getLogger("stom.alerts")

CONFIRM_S = 60.0
"""How long ``/kill confirm`` is accepted after ``/kill``."""

HELP = (
    "Commands: /status, /positions, /pause (block new entries, cancel open orders), "
    "/resume (allow entries again), /kill (cancel everything and flatten; asks to confirm)."
)


class EngineControls(Protocol):
    """What the bot may read and do in the engine."""

    def status_text(self) -> str: ...

    def positions_text(self) -> str: ...

    def pause(self, reason: str) -> str: ...

    def resume(self) -> str: ...

    def kill(self, reason: str) -> str: ...


class BotCommands:
    """Long-polls getUpdates and answers the allowed chats."""

    def __init__(
        self,
        api: TelegramApi,
        controls: EngineControls,
        chat_ids: list[int],
        *,
        poll_timeout_s: int,
        monotonic: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self.api = api
        self.backoff = backoff or Backoff(1.0, 60.0)
        self.controls = controls
        self.allowed = frozenset(chat_ids)
        self.poll_timeout_s = poll_timeout_s
        self.monotonic = monotonic
        self.offset: int | None = None
        self.ignored = 0
        self._kill_asked: dict[int, float] = {}

    async def run(self) -> None:
        backoff = self.backoff
        while True:
            try:
                updates = await self.api.get_updates(self.offset, self.poll_timeout_s)
                backoff.reset()
            except TelegramError as exc:
                log.warning("Telegram getUpdates failed: %s; retrying", exc)
                await backoff.wait(exc.retry_after_s)  # flood control's retry_after is a floor
                continue
            for update in updates:
                self.offset = max(self.offset or 0, int(update.get("update_id", 0)) + 1)
                await self.handle(update)

    async def handle(self, update: dict[str, Any]) -> None:
        message = update.get("message") or {}
        chat_id = (message.get("chat") or {}).get("id")
        text = str(message.get("text") or "").strip()
        if chat_id not in self.allowed:
            self.ignored += 1
            log.warning("ignored a Telegram message from chat %s (not in chat_ids)", chat_id)
            return
        if not text.startswith("/"):
            return
        try:
            reply = self.answer(chat_id, text)
        except Exception as exc:  # a failing command must not take the engine down with it
            log.exception("Telegram command %r failed", text.split()[0])
            reply = f"{text.split()[0]} failed: {exc}"
        try:
            await self.api.send_message(chat_id, reply)
        except TelegramError as exc:
            log.warning("Telegram reply not sent: %s", exc)

    def answer(self, chat_id: int, text: str) -> str:
        words = text.split()
        command = words[0].split("@", 1)[0].lower()  # "/status@MyBot" in group chats
        args = [word.lower() for word in words[1:]]
        log.info("Telegram command %s from chat %s", command, chat_id)
        if command == "/status":
            return self.controls.status_text()
        if command == "/positions":
            return self.controls.positions_text()
        if command == "/pause":
            return self.controls.pause(f"paused from Telegram (chat {chat_id})")
        if command == "/resume":
            return self.controls.resume()
        if command == "/kill":
            return self._kill(chat_id, args)
        return f"Unknown command {command}. {HELP}"

    def _kill(self, chat_id: int, args: list[str]) -> str:
        now = self.monotonic()
        if args == ["confirm"]:
            asked = self._kill_asked.pop(chat_id, None)
            if asked is None or now - asked > CONFIRM_S:
                return "No /kill to confirm (or it is older than 60 s): send /kill first."
            return self.controls.kill(f"kill switch from Telegram (chat {chat_id})")
        self._kill_asked[chat_id] = now
        return (
            "KILL SWITCH: this cancels every open order, flattens every position and blocks new "
            "entries. Send /kill confirm within 60 s to do it."
        )
