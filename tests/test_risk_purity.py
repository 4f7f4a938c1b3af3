"""The risk engine is pure: no I/O, no event loop, no clock of its own (time is passed in)."""

from __future__ import annotations

import ast
from pathlib import Path

RISK = Path(__file__).resolve().parent.parent / "engine" / "risk"
FORBIDDEN = {
    "asyncio", "aiomqtt", "amqtt", "socket", "subprocess", "sqlite3", "polars", "time",
    "datetime.datetime", "logging", "os", "pathlib", "random",
}  # fmt: skip


def test_risk_imports_nothing_that_does_io_or_reads_the_clock() -> None:
    offenders = []
    for path in sorted(RISK.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN
            ]
    assert offenders == []
    assert len(list(RISK.glob("*.py"))) >= 8
