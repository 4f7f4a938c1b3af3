"""mypy over the engine and the console, in the suite: zero errors.

The configuration is ``[tool.mypy]`` in pyproject.toml: strict on the pure core and the money
path (engine.domain, protocol, oms, risk, paper, journal), default checking elsewhere. The cache
lives in the repository's ``.mypy_cache`` (git-ignored), so a second run only rechecks what
changed; a cold run (a fresh clone, CI) checks everything once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Success: no issues found" in report, report
