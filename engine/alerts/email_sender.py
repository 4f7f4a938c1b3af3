"""Email alerts over SMTP with STARTTLS (stdlib smtplib, in a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from engine.config.alert_settings import EmailAlerts
from engine.config.secrets import Secret

SMTP_TIMEOUT_S = 15.0


class EmailSender:
    """One message per alert; the first line is the subject."""

    def __init__(self, settings: EmailAlerts, password: Secret | None, *, subject_prefix: str):
        self.settings = settings
        self._password = password
        self.subject_prefix = subject_prefix
        cafile = settings.ca_file or None
        self._tls = ssl.create_default_context(cafile=cafile)

    async def send(self, text: str) -> None:
        message = EmailMessage()
        first_line = text.splitlines()[0] if text else "alert"
        message["Subject"] = f"{self.subject_prefix}{first_line}"[:200]
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.recipients)
        message.set_content(text)
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        settings = self.settings
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            smtp.ehlo()
            if settings.starttls:
                # Raises SMTPNotSupportedError if the server cannot: the password never goes out
                # over a plain connection.
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if settings.username:
                if self._password is None:
                    raise smtplib.SMTPAuthenticationError(
                        530, b"no password: set [alerts.email] password in the secrets file"
                    )
                smtp.login(settings.username, self._password.reveal())
            smtp.send_message(message)
