"""Writing the wizard's plan: ``config.toml`` edited with tomlkit (comments kept) and the secrets
file (mode 0600), each checked with the real loader before it replaces anything.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

import engine
from engine.config.errors import ConfigError
from engine.config.loader import load_settings
from engine.config.secrets import load_secrets
from engine.config.settings import SecretsSettings, Settings
from engine.setup.wizard import Plan

TEMPLATE = Path(engine.__file__).resolve().parent.parent / "config.toml"
"""The documented ``config.toml`` at the repository root: the starting point of a new file."""


def read_document(path: Path) -> TOMLDocument:
    """The existing file (to edit in place) or the documented template."""
    source = path if path.exists() else TEMPLATE
    if not source.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(source.read_text())
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def _template() -> TOMLDocument | None:
    return tomlkit.parse(TEMPLATE.read_text()) if TEMPLATE.exists() else None


def apply_plan(document: TOMLDocument, plan: Plan) -> None:
    """Set each value; a missing section comes from the template with its comments."""
    template = _template()
    for path, value in plan.config:
        *sections, key = path
        table: Any = document
        reference: Any = template
        for name in sections:
            reference = reference.get(name) if reference is not None else None
            if name not in table:
                fresh = copy.deepcopy(reference) if isinstance(reference, Table) else None
                table[name] = fresh if fresh is not None else tomlkit.table()
            table = table[name]
        table[key] = _toml_value(value)


def _toml_value(value: Any) -> Any:
    """Tables of values stay inline (``{ KRW = "1000000" }``), as the template writes them."""
    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline
    return value


def write_config(path: Path, document: TOMLDocument, env: Mapping[str, str]) -> Settings:
    """Validate with the real loader from a temporary file, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = tomlkit.dumps(document)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".config-", suffix=".toml", delete=False
    ) as handle:
        handle.write(text)
        staged = Path(handle.name)
    try:
        # Only the file: the environment's STOM_* must not hide a problem in what was written.
        clean = {key: value for key, value in env.items() if not key.startswith("STOM_")}
        settings, _ = load_settings(staged, env=clean)
        if path.exists():
            os.chmod(staged, path.stat().st_mode & 0o777)
        else:
            os.chmod(staged, 0o644)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return settings


def write_secrets(path: Path, plan: Plan, settings: Settings) -> bool:
    """Merge the plan's secrets into the secrets file (mode 0600); False if there were none."""
    if not plan.secrets:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = tomlkit.document()
    if path.exists():
        # The same checks as at start-up (mode 0600, valid TOML) before reading it to merge.
        load_secrets(Settings(secrets=SecretsSettings(file=str(path))), env={})
        document = tomlkit.parse(path.read_text())
    else:
        document.add(
            tomlkit.comment("STOM secrets: keep this file mode 0600 (stom init made it so).")
        )
    for section, key, value in plan.secrets:
        table: Any = document
        for name in section.split("."):
            if name not in table:
                table[name] = tomlkit.table()
            table = table[name]
        table[key] = value
    fd, staged_name = tempfile.mkstemp(dir=path.parent, prefix=".secrets-", suffix=".toml")
    staged = Path(staged_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tomlkit.dumps(document))
        load_secrets(Settings(secrets=SecretsSettings(file=str(staged))), env={})
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return True
