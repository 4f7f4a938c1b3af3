"""Dependencies point inward: the app uses only the engine's pure packages; only it uses Textual."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ALLOWED_ENGINE = ("engine.domain", "engine.protocol", "engine.config")
NOT_APP_DIRS = ("engine", "strategies", "bench")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # ``from engine import bus`` names a module too.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_app_imports_only_pure_engine_packages() -> None:
    offenders = []
    for path in sorted((ROOT / "stom_tui").rglob("*.py")):
        for line, module in _imports(path):
            if not _is_within(module, "engine") or module == "engine":
                continue
            if not any(_is_within(module, allowed) for allowed in APP_ALLOWED_ENGINE):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    rule = "stom_tui may import only engine.domain, engine.protocol and engine.config"
    assert not offenders, rule + ":\n" + "\n".join(offenders)


def test_nothing_outside_the_app_imports_textual() -> None:
    offenders = []
    for directory in NOT_APP_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            for line, module in _imports(path):
                if _is_within(module, "textual"):
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, "only stom_tui may import textual:\n" + "\n".join(offenders)


def test_the_rule_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from engine import bus\nimport textual.app\nfrom engine.protocol import codec\n"
    )
    found = [module for _, module in _imports(bad)]
    assert "engine.bus" in found and "textual.app" in found
    assert not any(_is_within("engine.bus", allowed) for allowed in APP_ALLOWED_ENGINE)
