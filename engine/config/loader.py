"""Loading :class:`~engine.config.settings.Settings` from defaults, a file, the environment, flags.

Sources, lowest priority first: the defaults in ``settings.py``, the TOML file, environment
variables ``STOM_<SECTION>__<KEY>``, then command-line overrides. Each value is type-checked where
it enters, so an error names its own source; ranges and formats are checked once on the result.
Every problem found is reported together in one :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from engine.config.broker_address import BrokerAddress, parse_broker_url
from engine.config.errors import ConfigError, quote, toml_literal
from engine.config.secrets import ENV_PREFIX, is_secret_key, secret_env_name
from engine.config.settings import Settings
from engine.config.toml_file import nesting_error, read_toml_file
from engine.config.validation import check_settings

__all__ = [
    "CONFIG_ENV",
    "USER_CONFIG_FILE",
    "BrokerAddress",
    "ConfigError",
    "find_config_file",
    "load_settings",
    "parse_broker_url",
]

CONFIG_ENV = "STOM_CONFIG"
"""Environment variable naming the config file to use instead of the search below."""
LOCAL_CONFIG_FILE = Path("config.toml")
USER_CONFIG_FILE = Path("~/.config/stom/config.toml")


def _is_group(struct: Any) -> bool:
    """A section made only of subsections, such as ``[venues.upbit]``, ``[venues.binance]``."""
    fields = msgspec.structs.fields(struct)
    return bool(fields) and all(
        isinstance(field.type, type) and issubclass(field.type, msgspec.Struct) for field in fields
    )


_GROUPS: dict[str, type[msgspec.Struct]] = {
    field.name: field.type for field in msgspec.structs.fields(Settings) if _is_group(field.type)
}
"""Sections of subsections by name; their subsections are sections named ``venues.upbit``."""


def _flat_sections() -> dict[str, type[msgspec.Struct]]:
    sections: dict[str, type[msgspec.Struct]] = {}
    for field in msgspec.structs.fields(Settings):
        if field.name in _GROUPS:
            for sub in msgspec.structs.fields(field.type):
                sections[f"{field.name}.{sub.name}"] = sub.type
        else:
            sections[field.name] = field.type
    return sections


_SECTIONS = _flat_sections()
"""Every section by name (``bus``, ``venues.upbit`` ...) with its struct."""
_FIELDS: dict[str, dict[str, Any]] = {
    section: {field.name: field.type for field in msgspec.structs.fields(struct)}
    for section, struct in _SECTIONS.items()
}
_EXPECTED: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
}


@dataclass(frozen=True)
class _Source:
    """Where a value came from, written the way the user would look for it."""

    kind: Literal["default", "file", "env", "flag"]
    name: str
    """The file's path, the variable's name, or the flag (``--broker``) or dotted key."""
    text: str | None = None
    """The environment variable's text as given."""

    def describe(self, section: str, key: str, value: Any) -> str:
        if self.kind == "env":
            return f"environment {self.name}={quote(self.text or '')}"
        if self.kind == "flag" and self.name.startswith("-"):
            return f"{self.name} {toml_literal(value)}"
        prefix = {"file": f"{self.name}:", "flag": "override", "default": "default"}[self.kind]
        return f"{prefix} [{section}] {key} = {toml_literal(value)}"

    def where(self) -> str:
        """The source alone, for problems that are not about one value."""
        if self.kind == "env":
            return f"environment {self.name}"
        if self.kind == "flag" and not self.name.startswith("-"):
            return f"override {self.name}"
        return self.name


_DEFAULT = _Source("default", "defaults")


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> tuple[Settings, Path | None]:
    """Load and validate the settings; returns them and the config file used (None: none).

    ``path`` None means: ``$STOM_CONFIG``, else ``./config.toml``, else
    ``~/.config/stom/config.toml``, else defaults only. ``env`` defaults to ``os.environ``.
    ``overrides`` maps dotted keys (``"bus.url"``) to values from command-line flags; None values
    are skipped (a flag not given) and strings for non-string keys are read like environment
    values. ``flag_names`` maps the same dotted keys to the flag (``"--broker"``) for messages.
    Raises :class:`ConfigError` listing every problem found.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    config_path = find_config_file(path, environ)
    layers = _Layers()
    if config_path is not None:
        layers.read_file(config_path)
    layers.read_env(environ)
    layers.read_overrides(overrides or {}, flag_names or {})
    if layers.problems:
        raise ConfigError(layers.problems)
    sections: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
    for (section, key), (value, _source) in layers.values.items():
        sections[section][key] = value
    settings = _build(sections)
    semantic = check_settings(settings, _sim_catalog())
    if semantic:
        raise ConfigError(
            f"{layers.describe(problem.section, problem.key, settings)}: {problem.reason}"
            for problem in semantic
        )
    return settings, config_path


def _build(sections: Mapping[str, Mapping[str, Any]]) -> Settings:
    built: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {group: {} for group in _GROUPS}
    for name, values in sections.items():
        section = _SECTIONS[name](**values)
        group, dot, sub = name.partition(".")
        if dot:
            grouped[group][sub] = section
        else:
            built[name] = section
    for group, subsections in grouped.items():
        built[group] = _GROUPS[group](**subsections)
    return Settings(**built)


def _section_value(settings: Settings, section: str) -> Any:
    value: Any = settings
    for part in section.split("."):
        value = getattr(value, part)
    return value


def _split_dotted(dotted: str) -> tuple[str, str]:
    """``bus.url`` -> (``bus``, ``url``); ``venues.upbit.mode`` -> (``venues.upbit``, ``mode``)."""
    section, _, key = dotted.partition(".")
    if section in _GROUPS:
        sub, _, key = key.partition(".")
        section = f"{section}.{sub}"
    return section, key


def find_config_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read (see :func:`load_settings`); a named file must exist."""
    if path is not None:
        if not path.expanduser().exists():
            raise ConfigError(f"{path}: config file not found")
        return path.expanduser()
    if named := env.get(CONFIG_ENV):
        chosen = Path(named).expanduser()
        if not chosen.exists():
            raise ConfigError(f"environment {CONFIG_ENV}={quote(named)}: config file not found")
        return chosen
    for candidate in (LOCAL_CONFIG_FILE, USER_CONFIG_FILE.expanduser()):
        if candidate.is_file():
            return candidate
    return None


class _Layers:
    """Values by (section, key) with their source, later sources replacing earlier ones."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], tuple[Any, _Source]] = {}
        self.given: dict[tuple[str, str], Any] = {}
        self.problems: list[str] = []

    def read_file(self, path: Path) -> None:
        source = _Source("file", str(path))
        sections = ", ".join(_SECTIONS)
        for section, table in read_toml_file(path).items():
            if not isinstance(table, dict):
                self.problems.append(
                    f"{path}: {section} = {toml_literal(table)}: expected a section [{section}]"
                    if section in _SECTIONS or section in _GROUPS
                    else f"{path}: unknown top-level key {section}: every setting belongs in a"
                    f" section (sections: {sections})"
                )
            elif section in _GROUPS:
                self._read_group(path, section, table, source)
            elif section in _SECTIONS:
                for key, value in table.items():
                    self.assign(section, key, value, source)
            elif secret_keys := [key for key in _flat_keys(table) if is_secret_key(key)]:
                # Most likely venue credentials put in the wrong file: say where they belong.
                self.problems.extend(_secret_here(section, key, source) for key in secret_keys)
            else:
                self.problems.append(
                    f"{path}: unknown section [{section}]{_suggest(section, _SECTIONS)}"
                    f" (known sections: {sections})"
                )

    def _read_group(
        self, path: Path, group: str, table: Mapping[str, Any], source: _Source
    ) -> None:
        for sub, subtable in table.items():
            section = f"{group}.{sub}"
            if section not in _SECTIONS:
                known = [
                    name.partition(".")[2] for name in _SECTIONS if name.startswith(f"{group}.")
                ]
                self.problems.append(
                    f"{path}: unknown section [{section}]{_suggest(sub, known)}"
                    f" (known: {', '.join(f'[{group}.{name}]' for name in known)})"
                )
            elif not isinstance(subtable, dict):
                self.problems.append(
                    f"{path}: [{group}] {sub} = {toml_literal(subtable)}: expected a section"
                    f" [{section}]"
                )
            else:
                for key, value in subtable.items():
                    self.assign(section, key, value, source)

    def read_env(self, env: Mapping[str, str]) -> None:
        for name in sorted(env):
            if not name.startswith(ENV_PREFIX) or "__" not in name:
                continue
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
            if section in _GROUPS:
                sub, _, key = key.partition("__")
                section = f"{section}.{sub}"
            if is_secret_key(key) and key not in _FIELDS.get(section, {}):
                continue  # a secret, for secrets.py
            if section not in _SECTIONS:
                self.problems.append(
                    f"environment {name}: unknown section [{section}]"
                    f"{_suggest(section, _SECTIONS)} (known sections: {', '.join(_SECTIONS)})"
                )
                continue
            self.assign(section, key, env[name], _Source("env", name, env[name]), from_text=True)

    def read_overrides(self, overrides: Mapping[str, Any], flag_names: Mapping[str, str]) -> None:
        for dotted, value in overrides.items():
            if value is None:
                continue
            source = _Source("flag", flag_names.get(dotted, dotted))
            section, key = _split_dotted(dotted)
            if section not in _SECTIONS or not key:
                self.problems.append(f"{source.where()}: {dotted!r} is not a setting")
                continue
            from_text = isinstance(value, str) and _FIELDS[section].get(key) is not str
            self.assign(section, key, value, source, from_text=from_text)

    def assign(
        self, section: str, key: str, value: Any, source: _Source, *, from_text: bool = False
    ) -> None:
        """Type-check one value from one source and keep it, or record why it cannot be used."""
        fields = _FIELDS[section]
        if key not in fields:
            self.problems.append(_unknown_key(section, key, source))
            return
        field_type = fields[key]
        try:
            if from_text:
                converted = _convert_text(value, field_type)
            else:
                converted = msgspec.convert(value, field_type, strict=True)
        except msgspec.ValidationError:
            described = source.describe(section, key, value)
            self.problems.append(f"{described}: expected {_expected(field_type)}")
            return
        # Keep the value as given, so a message shows ``101`` as written, not ``101.0``.
        self.values[section, key] = (converted, source)
        self.given[section, key] = value

    def describe(self, section: str, key: str, settings: Settings) -> str:
        """The value of ``key`` as its source gave it (the default if no source did)."""
        if (section, key) not in self.values:
            return _DEFAULT.describe(section, key, getattr(_section_value(settings, section), key))
        return self.values[section, key][1].describe(section, key, self.given[section, key])


def _convert_text(text: str, field_type: Any) -> Any:
    """An environment value: a TOML literal (``5``, ``true``, ``["a"]``) if it is one, else text."""
    literal = f"value = {text}"
    try:
        # Nested too deeply for the parser: not a literal of any setting, so plain text.
        parsed = {} if nesting_error(literal) else tomllib.loads(literal)
    except tomllib.TOMLDecodeError:
        parsed = {}
    # More than one key means the text smuggled in a newline and another assignment.
    if parsed.keys() == {"value"}:
        try:
            return msgspec.convert(parsed["value"], field_type, strict=True)
        except msgspec.ValidationError:
            if field_type is not str:
                raise
    return msgspec.convert(text, field_type, strict=True)


REMOVED_KEYS = {
    ("paper", "market_data_latency_ms"): "it was never read: strategies see market data when the "
    "fill model does (the order latency is order_latency_ms); remove the line",
}
"""Keys that were documented once: a config naming one is told why it is refused."""


def _unknown_key(section: str, key: str, source: _Source) -> str:
    if is_secret_key(key):
        return _secret_here(section, key, source)
    if (section, key) in REMOVED_KEYS:
        return f"{source.where()}: [{section}] {key} was removed: {REMOVED_KEYS[(section, key)]}"
    known = _FIELDS[section]
    return (
        f"{source.where()}: unknown key [{section}] {key}{_suggest(key, known)}"
        f" (known keys: {', '.join(known)})"
    )


def _secret_here(section: str, key: str, source: _Source) -> str:
    return (
        f"{source.where()}: [{section}] {key} is a secret and is not read from here: set the"
        f" environment variable {secret_env_name(f'{section}.{key}')} or put it in the secrets"
        " file (~/.config/stom/secrets.toml unless [secrets] file says otherwise; mode 0600)"
    )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return f": did you mean {close[0]}?" if close else ""


def _expected(field_type: Any) -> str:
    origin = typing.get_origin(field_type)
    if origin is list:
        return 'an array of strings, e.g. ["KRW-BTC", "005930"]'
    if origin is dict:
        return 'a table of strings, e.g. { quit = "ctrl+q" }'
    return _EXPECTED.get(field_type, str(field_type))


def _flat_keys(table: Mapping[str, Any]) -> Iterable[str]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flat_keys(value)
        else:
            yield key


def _sim_catalog() -> Mapping[str, Any] | None:
    """The simulator's catalogue, or None while ``engine.sim.catalog`` does not exist yet."""
    try:
        from engine.sim.catalog import SIM_CATALOG
    except ImportError as exc:
        if exc.name in ("engine.sim", "engine.sim.catalog"):
            return None
        raise
    return SIM_CATALOG
