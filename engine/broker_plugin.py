"""The embedded broker's authentication: one user name and password, compared in constant time.

Loaded by amqtt by its dotted name (engine/broker.py ``amqtt_config``); it lives apart from
engine/broker.py so that checking whether a broker answers does not import amqtt.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class PasswordAuthPlugin(BaseAuthPlugin):
    """Accepts a session only with the configured user name and password; nothing anonymous."""

    @dataclass
    class Config:
        username: str = ""
        password: str = ""

    async def authenticate(self, *, session: Session) -> bool | None:
        config = self.config
        if not config.username or not config.password:
            return False  # misconfigured: refuse everyone rather than admit everyone
        username = _bytes(session.username)
        password = _bytes(session.password)
        # Both compared whatever the first gives, so timing tells nothing about either.
        user_ok = hmac.compare_digest(username, config.username.encode())
        password_ok = hmac.compare_digest(password, config.password.encode())
        return user_ok and password_ok


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode()
