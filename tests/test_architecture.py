"""Dependencies point inward (style.md §1): checked on the source, so the rule cannot rot."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_MAY_IMPORT = ("engine.domain", "engine.protocol", "engine.config")


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_app_imports_only_domain_protocol_and_config_from_the_engine() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "stom_tui").rglob("*.py")
        for name in imports_of(path)
        if (name == "engine" or name.startswith("engine.")) and not name.startswith(APP_MAY_IMPORT)
    ]
    assert offenders == []


def test_nothing_outside_the_app_imports_textual_or_the_app() -> None:
    # engine/cli is the composition root: it starts the console, so it may import stom_tui.
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "engine").rglob("*.py")
        if "cli" not in path.relative_to(ROOT / "engine").parts
        for name in imports_of(path)
        if name.split(".")[0] in ("textual", "stom_tui")
    ]
    assert offenders == []


def test_domain_and_protocol_are_pure() -> None:
    io_modules = {"asyncio", "aiomqtt", "socket", "subprocess", "sqlite3", "amqtt", "polars"}
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for package in ("domain", "protocol")
        for path in (ROOT / "engine" / package).rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in io_modules
    ]
    assert offenders == []
