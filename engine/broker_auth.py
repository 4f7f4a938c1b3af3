"""Who may use the embedded broker: one user name and a password generated at first run.

The embedded broker listens on loopback, where every local user can connect; without a password
any of them could read the engine's replies and trade (issue 12, finding 3). So it never runs
open: ``stom`` generates a random password the first time it starts the embedded broker, keeps it
in the secrets file (mode 0600, ``[bus] password``), and the engine, the console and every CLI
command read it from there. docs/deploy.md, "Broker authentication", says how to rotate it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path

from engine.config.errors import ConfigError
from engine.config.secrets import Secret, broker_password, secret_env_name
from engine.config.settings import BusSettings, Settings

log = logging.getLogger("stom.broker")

DEFAULT_USERNAME = "stom"
"""The user name when a password is set and ``[bus] username`` is empty."""

PASSWORD_BYTES = 24
"""192 bits from ``secrets``: far beyond guessing over a loopback socket."""


def broker_username(bus: BusSettings, password: Secret | None) -> str | None:
    """``[bus] username``; ``stom`` when only a password is set (MQTT sends none without one)."""
    if bus.username:
        return bus.username
    return DEFAULT_USERNAME if password else None


def ensure_broker_password(settings: Settings, env: Mapping[str, str]) -> Secret:
    """The broker password, generated into the secrets file if there is none yet.

    Raises :class:`ConfigError` when there is no secrets file to keep it in, or it cannot be
    written (the message says what to do; it never contains the value).
    """
    existing = broker_password(settings, env)
    if existing:
        return existing
    if not settings.secrets.file:
        raise ConfigError(
            "the embedded broker needs a password and [secrets] file is empty: set"
            f" {secret_env_name('bus.password')} or [secrets] file"
        )
    # Imported here: tomlkit and the loader are only needed the first time.
    from engine.setup.config_edit import write_secrets
    from engine.setup.wizard import Plan

    path = Path(settings.secrets.file).expanduser()
    value = secrets.token_urlsafe(PASSWORD_BYTES)
    plan = Plan()
    plan.secret("bus", "password", value)
    try:
        write_secrets(path, plan, settings)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot store the broker password: {exc.strerror}") from None
    log.info("generated the embedded broker's password in %s ([bus] password)", path)
    return Secret(value)
