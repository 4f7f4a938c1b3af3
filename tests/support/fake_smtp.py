"""An SMTP server on loopback (aiosmtpd) that requires STARTTLS and a login, and keeps messages."""

from __future__ import annotations

import ssl
import threading
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from tests.support.brokers import free_port
from tests.support.tls_broker import make_certificates


class FakeSmtp:
    """``with FakeSmtp(user, password, dir) as smtp: ... smtp.messages``."""

    def __init__(self, username: str, password: str, directory: Path) -> None:
        self.username, self.password = username, password
        self.certs = make_certificates(directory)
        self.port = free_port()
        self.messages: list[Message] = []
        self.logins: list[str] = []
        self._lock = threading.Condition()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802
        with self._lock:
            self.messages.append(message_from_bytes(envelope.original_content or b""))
            self._lock.notify_all()
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._lock.wait(0.05)
            if len(self.messages) < count:
                raise AssertionError(f"{len(self.messages)} emails, expected {count}")
            return list(self.messages)

    def __enter__(self) -> FakeSmtp:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs.cert_file, self.certs.key_file)
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_require_tls=True,
            auth_required=True,
        )
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
