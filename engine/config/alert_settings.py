"""``[alerts.rules]``, ``[alerts.telegram]``, ``[alerts.email]``: who hears about what, and when.

The Telegram bot token and the SMTP password are secrets: ``[alerts.telegram] bot_token`` and
``[alerts.email] password`` in the secrets file, or ``STOM_ALERTS__TELEGRAM__BOT_TOKEN`` and
``STOM_ALERTS__EMAIL__PASSWORD``.
"""

from __future__ import annotations

import msgspec

ALERT_EVENTS = ("fill", "rejection", "risk", "engine", "feed")
"""Fills; orders rejected by the venue or denied by risk; kill switch trips and resets; engine
start, restart and stop; market data feeds going silent and coming back."""


class AlertRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Rules shared by every channel."""

    quiet_hours: str = ""
    """``HH:MM-HH:MM`` in ``timezone`` (may cross midnight); empty: never quiet."""
    timezone: str = "Asia/Seoul"
    """IANA time zone of ``quiet_hours``."""
    quiet_events: list[str] = msgspec.field(default_factory=lambda: ["risk", "engine"])
    """Events still sent during quiet hours (the rest are dropped, not delayed)."""


class TelegramAlerts(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alerts to Telegram chats through a bot, and commands from them."""

    enabled: bool = False
    """Send alerts to ``chat_ids`` (needs the bot token in the secrets)."""
    chat_ids: list[int] = msgspec.field(default_factory=list)
    """Chats that get alerts and may send commands; other chats get nothing and command nothing."""
    events: list[str] = msgspec.field(default_factory=lambda: list(ALERT_EVENTS))
    """Which events to send (see ALERT_EVENTS)."""
    max_per_minute: int = 20
    """At most this many messages in any 60 s; the rest are counted and reported later."""
    commands: bool = True
    """Answer /status, /positions, /pause, /resume and /kill from ``chat_ids``."""
    api_url: str = "https://api.telegram.org"
    """Bot API base URL (a proxy, or a test server)."""
    ca_file: str = ""
    """CA bundle to verify ``api_url`` (empty: the system's trust store)."""
    poll_timeout_s: int = 25
    """Long-poll timeout of getUpdates, in seconds."""


class EmailAlerts(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alerts by email over SMTP."""

    enabled: bool = False
    """Send alerts to ``recipients``."""
    smtp_host: str = ""
    """SMTP server host name."""
    smtp_port: int = 587
    """SMTP port (587: submission with STARTTLS)."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS before logging in (refuse to send if it fails)."""
    username: str = ""
    """SMTP login (empty: no login); the password is a secret."""
    sender: str = ""
    """The From address."""
    recipients: list[str] = msgspec.field(default_factory=list)
    """Where alerts go."""
    events: list[str] = msgspec.field(
        default_factory=lambda: ["rejection", "risk", "engine", "feed"]
    )
    """Which events to send (see ALERT_EVENTS); fills are left out by default."""
    max_per_minute: int = 5
    """At most this many emails in any 60 s; the rest are counted and reported later."""
    ca_file: str = ""
    """CA bundle to verify the SMTP server (empty: the system's trust store)."""


class AlertsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alerts: rules and channels, one subsection each."""

    rules: AlertRules = msgspec.field(default_factory=AlertRules)
    """Quiet hours shared by every channel."""
    telegram: TelegramAlerts = msgspec.field(default_factory=TelegramAlerts)
    """Telegram bot."""
    email: EmailAlerts = msgspec.field(default_factory=EmailAlerts)
    """SMTP email."""


def check_alerts(alerts: AlertsSettings) -> list[tuple[str, str, str]]:
    """``(section, key, reason)`` for each bad value (validation.py adds the source)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problems: list[tuple[str, str, str]] = []
    rules = alerts.rules
    try:
        parse_quiet_hours(rules.quiet_hours)
    except ValueError as exc:
        problems.append(("alerts.rules", "quiet_hours", str(exc)))
    try:
        ZoneInfo(rules.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        problems.append(("alerts.rules", "timezone", "not a time zone such as Asia/Seoul or UTC"))
    channels: tuple[tuple[str, str, list[str]], ...] = (
        ("alerts.rules", "quiet_events", rules.quiet_events),
        ("alerts.telegram", "events", alerts.telegram.events),
        ("alerts.email", "events", alerts.email.events),
    )
    for section, key, names in channels:
        unknown = [name for name in names if name not in ALERT_EVENTS]
        if unknown:
            reason = f"unknown {', '.join(unknown)} (events: {', '.join(ALERT_EVENTS)})"
            problems.append((section, key, reason))
    telegram, email = alerts.telegram, alerts.email
    for section, channel in (("alerts.telegram", telegram), ("alerts.email", email)):
        if not 1 <= channel.max_per_minute <= 600:
            problems.append((section, "max_per_minute", "expected 1 to 600 messages"))
        if channel.ca_file and not _is_file(channel.ca_file):
            problems.append((section, "ca_file", "no such file"))
    if telegram.enabled and not telegram.chat_ids:
        problems.append(("alerts.telegram", "chat_ids", "enabled Telegram needs at least one chat"))
    if not telegram.api_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        problems.append(("alerts.telegram", "api_url", "expected an https:// URL"))
    if not 1 <= telegram.poll_timeout_s <= 300:
        problems.append(("alerts.telegram", "poll_timeout_s", "expected 1 to 300 seconds"))
    if email.enabled:
        if not email.smtp_host:
            problems.append(("alerts.email", "smtp_host", "enabled email needs an SMTP host"))
        if not email.recipients:
            problems.append(("alerts.email", "recipients", "enabled email needs a recipient"))
        if "@" not in email.sender:
            problems.append(("alerts.email", "sender", "expected an address such as stom@host"))
    if not 1 <= email.smtp_port <= 65535:
        problems.append(("alerts.email", "smtp_port", "expected 1 to 65535"))
    return problems


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """``"23:00-07:00"`` -> (start, end) in minutes after midnight; ``""`` -> None."""
    if not text.strip():
        return None
    start, dash, end = text.partition("-")
    if not dash:
        raise ValueError("expected HH:MM-HH:MM, e.g. 23:00-07:00")
    minutes = []
    for part in (start, end):
        hours, colon, mins = part.strip().partition(":")
        if not (colon and hours.isdigit() and mins.isdigit() and len(mins) == 2):
            raise ValueError("expected HH:MM-HH:MM, e.g. 23:00-07:00")
        if not (0 <= int(hours) <= 23 and 0 <= int(mins) <= 59):
            raise ValueError(f"{part.strip()} is not a time of day (00:00 to 23:59)")
        minutes.append(int(hours) * 60 + int(mins))
    if minutes[0] == minutes[1]:
        raise ValueError("start and end are the same: empty it to turn quiet hours off")
    return minutes[0], minutes[1]


def _is_file(name: str) -> bool:
    from pathlib import Path

    return Path(name).expanduser().is_file()
