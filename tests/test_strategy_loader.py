"""Loading strategy files: every kind of broken file names its file and line; edits are noticed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.strategy.api import Strategy
from engine.strategy.loader import (
    FileWatcher,
    StrategyLoadError,
    check_params,
    describe_exception,
    load_strategy_class,
)

GOOD = '''"""A strategy."""
from engine.strategy.api import Param, Strategy


class Good(Strategy):
    fast = Param(20, low=5, high=100, step=5, doc="ticks in the fast average")
    size = Param(0.5, low=0.1, high=1.0, step=0.1)

    def on_trade(self, i, price, size, side, ts):
        raise RuntimeError("boom")
'''


def write(tmp_path: Path, text: str, name: str = "x.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_gives_its_strategy_class(tmp_path: Path) -> None:
    cls = load_strategy_class(write(tmp_path, GOOD))
    assert issubclass(cls, Strategy) and cls.__name__ == "Good"
    assert set(cls.params) == {"fast", "size"}
    assert cls.params["fast"].high == 100


def test_an_exception_in_a_callback_is_described_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    cls = load_strategy_class(path)
    strategy = cls.__new__(cls)
    with pytest.raises(RuntimeError) as caught:
        strategy.on_trade(0, 1, 1, 0, 0)
    assert describe_exception(caught.value, path) == f"{path}:10: RuntimeError: boom"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("x = 1\ndef broken(:\n", 2, "SyntaxError"),
        ("import no_such_module_here\n", 1, "ModuleNotFoundError: No module named"),
        ("a = 1\nb = undefined_name\n", 2, "NameError: name 'undefined_name' is not defined"),
        ("x = 1\n", None, "defines no Strategy subclass"),
        (
            GOOD.replace("Param(20, low=5", "Param(2, low=5"),
            6,
            "Good.fast: the default is out of range",
        ),
        (GOOD.replace("step=0.1", "step=0"), 7, "Good.size: step 0 must be positive"),
        (GOOD + "\n\nclass Other(Good):\n    pass\n", None, "several strategies (Good, Other)"),
    ],
)
def test_broken_files_name_file_line_and_reason(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(StrategyLoadError) as caught:
        load_strategy_class(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_a_missing_file_and_a_missing_class_name(tmp_path: Path) -> None:
    with pytest.raises(StrategyLoadError, match="cannot read the file"):
        load_strategy_class(tmp_path / "gone.py")
    with pytest.raises(StrategyLoadError, match=r"no Strategy subclass named 'Nope'.*Good"):
        load_strategy_class(write(tmp_path, GOOD), class_name="Nope")


def test_params_from_config_are_checked_against_the_declarations(tmp_path: Path) -> None:
    cls = load_strategy_class(write(tmp_path, GOOD))
    assert check_params(cls, {"fast": 25.0}) == {"fast": 25}
    with pytest.raises(ValueError, match=r"^x: parameter fast: 200 is above its high bound 100"):
        check_params(cls, {"fast": 200}, "x")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) slow; Good declares fast, size"):
        check_params(cls, {"slow": 1})


def test_the_watcher_notices_edits_removal_and_return(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    watcher = FileWatcher([path])
    assert watcher.changed() == []
    stat = path.stat()
    path.write_text(GOOD + "\n# edited\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert watcher.changed() == [path]
    assert watcher.changed() == []
    path.unlink()
    assert watcher.changed() == [path]
    write(tmp_path, GOOD)
    assert watcher.changed() == [path]
