"""The optional compiled part of the engine: the backtest's one-instrument lane.

Everything else is in ``pyproject.toml``. ``engine/backtest/compiled_lane.pyx`` is built with
Cython (a build requirement, fetched by pip) where a C compiler works; where none does, the
install goes on without it and the backtest runs the same lane in pure Python
(``engine/backtest/hot_loop.py``). The build records the source's SHA-256, so a build older than
its ``.pyx`` is not used.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = Path("engine/backtest/compiled_lane.pyx")


class OptionalBuildExt(build_ext):
    """``build_ext`` that warns instead of failing when the C compiler is missing or fails."""

    def run(self) -> None:
        try:
            super().run()
        # No compiler, or one that fails: setuptools raises one of several errors for it.
        except Exception as exc:
            _skipped(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _skipped(exc)


def _skipped(exc: BaseException) -> None:
    print(
        f"stom: the compiled backtest lane was not built ({type(exc).__name__}: {exc}); "
        "the pure-Python lane runs instead",
        file=sys.stderr,
    )


def _extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:  # (a build without the pyproject's build requirements)
        return []
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    extension = Extension(
        "engine.backtest.compiled_lane",
        [str(SOURCE)],
        define_macros=[("STOM_LANE_SOURCE", f'"{digest}"')],
    )
    try:
        return list(cythonize([extension], language_level=3, quiet=True))
    # Cython failing is no reason to fail the install either: the pure-Python lane runs.
    except Exception as exc:
        _skipped(exc)
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
