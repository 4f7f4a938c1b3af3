"""What every CLI command needs: the broker address and password, and clear failures."""

from __future__ import annotations

import os
import sys

from engine.config.broker_address import BrokerAddress, parse_broker_url
from engine.config.errors import ConfigError
from engine.config.secrets import Secret, broker_password
from engine.config.settings import Settings


def broker_of(settings: Settings) -> tuple[BrokerAddress, Secret | None]:
    try:
        return parse_broker_url(settings.bus.url), broker_password(settings, os.environ)
    except (ConfigError, ValueError) as exc:
        fail(f"configuration error: {exc}", code=2)
        raise  # unreachable; for the type checker


def fail(message: str, code: int = 1) -> None:
    print(f"stom: {message}", file=sys.stderr)
    raise SystemExit(code)
