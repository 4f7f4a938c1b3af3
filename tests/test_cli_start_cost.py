"""``stom`` opens the console without loading what only other commands need.

Building the command line imported polars and numpy through the data, backtest and optimizer
parsers (about 0.25 s of the first frame); they load when those commands run.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("polars", "numpy", "numba", "talib", "ray")


def test_the_parser_and_the_console_path_load_no_data_libraries() -> None:
    code = (
        "import sys\n"
        "from engine.cli.main import build_parser\n"
        "import engine.cli.console\n"
        "build_parser().parse_args(['console'])\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
