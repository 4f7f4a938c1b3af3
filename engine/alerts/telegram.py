"""Telegram Bot API over HTTPS (httpx): sendMessage for alerts, getUpdates for commands.

The bot token is part of every URL, so URLs are never logged and errors are scrubbed of it.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import httpx

from engine.config.secrets import Secret

# httpx logs each request's URL at INFO; here the URL holds the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_TEXT = 4096
"""Telegram's longest message, in characters."""


class TelegramError(Exception):
    """The Bot API said no, or could not be reached (the message never has the token)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """Flood control: the Bot API's ``parameters.retry_after``, seconds before a retry."""


class TelegramApi:
    """The few Bot API methods STOM uses."""

    def __init__(
        self, base_url: str, token: Secret, *, ca_file: str = "", poll_timeout_s: int = 25
    ) -> None:
        self._token = token
        self._base = f"{base_url.rstrip('/')}/bot{token.reveal()}"
        verify: ssl.SSLContext | bool = True
        if ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
        # Long polls hold the connection poll_timeout_s; give them room beyond it.
        self._client = httpx.AsyncClient(
            verify=verify, timeout=httpx.Timeout(10.0, read=poll_timeout_s + 10.0)
        )

    async def call(self, method: str, **params: Any) -> Any:
        try:
            response = await self._client.post(f"{self._base}/{method}", json=params)
        except httpx.HTTPError as exc:
            raise TelegramError(self._scrub(f"{method}: {type(exc).__name__}: {exc}")) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("ok"):
            description = body.get("description") or response.reason_phrase
            parameters = body.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise TelegramError(
                f"{method}: HTTP {response.status_code} {description}",
                float(retry_after) if isinstance(retry_after, int | float) else None,
            )
        return body.get("result")

    async def send_message(self, chat_id: int, text: str) -> None:
        await self.call("sendMessage", chat_id=chat_id, text=text[:MAX_TEXT])

    async def get_updates(self, offset: int | None, timeout_s: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeout": timeout_s, "allowed_updates": ["message"]}
        if offset is not None:
            params["offset"] = offset
        result = await self.call("getUpdates", **params)
        return result if isinstance(result, list) else []

    def _scrub(self, text: str) -> str:
        return text.replace(self._token.reveal(), "***") if self._token else text

    async def close(self) -> None:
        await self._client.aclose()


class TelegramSender:
    """Sends each alert to every configured chat."""

    def __init__(self, api: TelegramApi, chat_ids: list[int]) -> None:
        self.api = api
        self.chat_ids = chat_ids

    async def send(self, text: str) -> None:
        errors = []
        for chat_id in self.chat_ids:
            try:
                await self.api.send_message(chat_id, text)
            except TelegramError as exc:
                errors.append(f"chat {chat_id}: {exc}")
        if errors:
            raise TelegramError("; ".join(errors))
