"""Secrets: the :class:`Secret` type and where secrets come from.

Secrets never live in ``config.toml`` (it gets shared, pasted into issues and committed). They come
from the environment (``STOM_BUS__PASSWORD``) or from a TOML secrets file that only its owner can
read; the environment wins. Keys are flattened: ``[bus] password`` is ``bus.password``.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config.errors import ConfigError
from engine.config.settings import Settings
from engine.config.toml_file import parse_bytes

ENV_PREFIX = "STOM_"
_SECRET_NAMES = frozenset({"password", "passphrase", "secret", "token", "credentials"})
_SECRET_SUFFIXES = ("_password", "_passphrase", "_secret", "_token", "_key")


class Secret:
    """A secret string that does not show itself: ``repr``, ``str`` and formats give ``***``.

    Call :meth:`reveal` at the one place that needs the value (handing it to the MQTT client).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        # Ignore the spec: "{:>40}" or "{:.3}" must not turn into a way to show the value.
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing never tells how much of a guess was right.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    # Hashing would let a secret be found by hashing guesses; nothing needs secrets in sets.
    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self._value)


def is_secret_key(key: str) -> bool:
    """True for key names that hold secrets (``password``, ``access_key``, ``api_token``...)."""
    name = key.rsplit(".", 1)[-1].lower()
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def secret_env_name(dotted_key: str) -> str:
    """The environment variable for a secret: ``bus.password`` -> ``STOM_BUS__PASSWORD``."""
    return ENV_PREFIX + dotted_key.replace(".", "__").upper()


def load_secrets(settings: Settings, env: Mapping[str, str]) -> dict[str, Secret]:
    """All secrets by flattened key: the secrets file (if it exists), then the environment.

    Raises :class:`ConfigError` if the file can be read by group or others, is not valid TOML, or
    holds something other than strings in sections. Messages never contain a secret's value.
    """
    path = Path(settings.secrets.file).expanduser() if settings.secrets.file else None
    from_file = _read_secrets_file(path) if path is not None else {}
    secrets = {key: Secret(value) for key, value in from_file.items()}
    for name, value in env.items():
        dotted = _env_key(name)
        # An empty variable counts as unset, as container tools often pass unset ones as "".
        if dotted and value and (dotted in from_file or is_secret_key(dotted)):
            secrets[dotted] = Secret(value)
    return secrets


def broker_password(settings: Settings, env: Mapping[str, str]) -> Secret | None:
    """The MQTT password (``STOM_BUS__PASSWORD`` or ``[bus] password`` in the secrets file)."""
    return load_secrets(settings, env).get("bus.password")


def _env_key(name: str) -> str | None:
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    parts = name[len(ENV_PREFIX) :].lower().split("__")
    return ".".join(parts) if all(parts) else None


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        # One open then fstat, so the mode checked is the mode of the file read; O_NONBLOCK so a
        # FIFO in its place cannot hang the start-up.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secrets file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: the secrets file is not a regular file")
        _check_private(path, info)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        data = file.read()
    return _flatten(parse_bytes(data, path), path)


def _check_private(path: Path, info: os.stat_result) -> None:
    if os.name == "nt":  # POSIX modes mean nothing there; the user profile's ACL protects it
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path}: the secrets file has mode {mode:04o}, so other users can read it;"
            f" refusing to use it. Run: chmod 600 {path}"
        )


def _flatten(table: Mapping[str, Any], path: Path, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path, f"{dotted}."))
        elif not prefix:
            raise ConfigError(
                f'{path}: {key} must be inside a section, e.g. [bus] password = "..."'
            )
        elif isinstance(value, str):
            flat[dotted] = value
        else:
            # Say the type, never the value.
            raise ConfigError(f"{path}: {dotted} must be a string, not {type(value).__name__}")
    return flat
