"""``pip install`` works on a machine with no C compiler: the compiled lane is left out.

``setup.py`` builds ``engine/backtest/compiled_lane.pyx`` as an optional extension. Here its
build runs (in a copy of the two files it reads) with a C compiler that always fails, as on a
machine with none: the build must succeed, say the lane was not built, and leave no module, so
the backtest runs the pure-Python lane (``tests/test_hot_loop.py`` runs that lane everywhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_an_install_without_a_c_compiler_goes_on_without_the_compiled_lane(
    tmp_path: Path,
) -> None:
    pytest.importorskip("Cython", reason="the test extra installs Cython")
    shutil.copy(ROOT / "setup.py", tmp_path / "setup.py")
    (tmp_path / "engine" / "backtest").mkdir(parents=True)
    shutil.copy(
        ROOT / "engine" / "backtest" / "compiled_lane.pyx",
        tmp_path / "engine" / "backtest" / "compiled_lane.pyx",
    )
    broken = shutil.which("false")
    assert broken is not None
    env = {**os.environ, "CC": broken, "LDSHARED": broken}
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the compiled backtest lane was not built" in done.stderr
    # Cython ran (the C file is there): it is the compiler that failed, and nothing was left.
    assert (tmp_path / "engine" / "backtest" / "compiled_lane.c").exists()
    assert not list(tmp_path.rglob("compiled_lane*.so"))
