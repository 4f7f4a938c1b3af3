"""A key that was documented but never read is refused with the reason, not silently accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_market_data_latency_is_refused_with_why(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[paper]\nmarket_data_latency_ms = 5.0\n")
    run = subprocess.run(
        [sys.executable, "-m", "engine", "--config", str(config), "status"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2
    assert f"{config}: [paper] market_data_latency_ms was removed: it was never read" in run.stderr
    assert "Traceback" not in run.stderr
