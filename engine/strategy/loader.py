"""Loading strategy classes from files under the strategies folder, and noticing edits.

A strategy file is plain Python loaded by path (the folder is not a package). It must define
exactly one :class:`~engine.strategy.api.Strategy` subclass (or name one with ``class_name``).
Every way a file can be wrong ends in :class:`StrategyLoadError`, which names the file and line:
a syntax error, an exception while the module runs (an import that fails, a typo, anything it
raises, ``BaseException`` included), an import that runs past its time budget (see
:mod:`engine.strategy.guard`), no strategy class, or a parameter declaration that cannot work (a
default outside its range, a step of 0).

Reading never blocks: a path that is not a regular file (a FIFO, a device, a directory), a file
larger than :data:`MAX_FILE_BYTES` or one that cannot be read is refused with the reason before
(and after) it is opened, and it is opened non-blocking.

:class:`FileWatcher` is the hot-reload half: the engine polls it about once a second (no extra
dependency, no threads) and reloads the files whose modification time or size changed.
"""

from __future__ import annotations

import ast
import itertools
import os
import stat
import sys
import traceback
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.strategy.api import Param, ParamValue, Strategy
from engine.strategy.guard import WATCHDOG

_counter = itertools.count()

MAX_FILE_BYTES = 1_000_000
"""Largest strategy file read (a strategy is code, not data)."""


class StrategyLoadError(Exception):
    """A strategy file that cannot be used; ``str()`` is ``file:line: what``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


def exception_line(exc: BaseException, path: Path | str) -> int | None:
    """The line of ``path`` nearest to where ``exc`` was raised (innermost frame in the file)."""
    target = str(path)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == target:
            line = frame.lineno
    return line


def describe_exception(exc: BaseException, path: Path | str) -> str:
    """``file:line: Type: message`` for an exception raised by code in a strategy file."""
    line = exception_line(exc, path)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {type(exc).__name__}: {exc}"


def resolve(directory: Path | str, file: str) -> Path:
    """``file`` relative to the strategies folder (absolute paths are kept)."""
    path = Path(file)
    return path if path.is_absolute() else Path(directory) / path


def load_strategy_class(path: Path | str, class_name: str | None = None) -> type[Strategy]:
    """Run the file at ``path`` as a fresh module and return its strategy class."""
    path = Path(path)
    source = read_source(path)
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise StrategyLoadError(path, exc.lineno, f"SyntaxError: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, nesting too deep
        what = f"cannot compile: {type(exc).__name__}: {exc}"
        raise StrategyLoadError(path, None, what) from None
    name = f"stom_strategy_{path.stem}_{next(_counter)}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    owner = types.SimpleNamespace(strategy_id=path.stem, source=str(path))
    try:
        WATCHDOG.call(owner, WATCHDOG.load_budget_s, exec, code, module.__dict__)
    except BaseException as exc:  # the barrier: sys.exit(), KeyboardInterrupt, an overrun too
        raise StrategyLoadError(
            path, exception_line(exc, path), f"{type(exc).__name__}: {exc}"
        ) from None
    finally:
        sys.modules.pop(name, None)
    try:
        cls = _pick_class(module, path, class_name)
        check_declarations(cls, path, source)
    except StrategyLoadError:
        raise
    except BaseException as exc:  # a class that breaks the checks themselves (odd params)
        raise StrategyLoadError(
            path, exception_line(exc, path), f"{type(exc).__name__}: {exc}"
        ) from None
    return cls


def read_source(path: Path) -> str:
    """The text of the strategy file at ``path``, without ever blocking (see the module doc)."""
    try:
        before = os.stat(path)
    except OSError as exc:
        raise StrategyLoadError(
            path, None, f"cannot read the file: {exc.strerror or exc}"
        ) from None
    _check_file(path, before)
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat opens at once (and is refused below).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise StrategyLoadError(
            path, None, f"cannot read the file: {exc.strerror or exc}"
        ) from None
    try:
        _check_file(path, os.fstat(fd))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise StrategyLoadError(
            path, None, f"cannot read the file: {exc.strerror or exc}"
        ) from None
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise StrategyLoadError(path, None, f"larger than {MAX_FILE_BYTES:,} bytes: refused")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrategyLoadError(path, None, f"not UTF-8 text: {exc.reason}") from None


def _check_file(path: Path, info: os.stat_result) -> None:
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a directory"
            if stat.S_ISDIR(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise StrategyLoadError(path, None, f"{kind}, not a regular file: refused")
    if info.st_size > MAX_FILE_BYTES:
        raise StrategyLoadError(
            path, None, f"{info.st_size:,} bytes, larger than {MAX_FILE_BYTES:,}: refused"
        )


def _pick_class(module: types.ModuleType, path: Path, class_name: str | None) -> type[Strategy]:
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module.__name__
    ]
    if class_name is not None:
        for cls in found:
            if cls.__name__ == class_name:
                return cls
        names = ", ".join(cls.__name__ for cls in found) or "none"
        raise StrategyLoadError(
            path, None, f"no Strategy subclass named {class_name!r} (the file defines: {names})"
        )
    if not found:
        raise StrategyLoadError(
            path,
            None,
            "defines no Strategy subclass (class X(Strategy): ... from engine.strategy.api)",
        )
    if len(found) > 1:
        names = ", ".join(cls.__name__ for cls in found)
        raise StrategyLoadError(
            path, None, f"defines several strategies ({names}); name one with class_name"
        )
    return found[0]


def check_declarations(cls: type[Strategy], path: Path | str, source: str | None = None) -> None:
    """Each declared parameter must be usable: a number, a range that holds it, a positive step."""
    for name, param in cls.params.items():
        problem = _param_problem(name, param)
        if problem:
            line = _declaration_line(source, cls.__name__, name) if source else None
            raise StrategyLoadError(path, line, f"{cls.__name__}.{problem}")


def _param_problem(name: str, param: Param) -> str | None:
    default = param.default
    if param.choices is not None:
        return _choices_problem(name, param)
    if isinstance(default, bool):
        if (param.low, param.high, param.step) != (None, None, None):
            return f"{name}: a true/false parameter takes no low, high or step"
        return None
    if isinstance(default, str):
        return f"{name}: the default {default!r} is text: declare its choices=(...)"
    if not isinstance(default, int | float):
        return f"{name}: the default {default!r} is not a number"
    for label, bound in (("low", param.low), ("high", param.high), ("step", param.step)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            return f"{name}: {label} {bound!r} is not a number"
    if param.low is not None and param.high is not None and param.low > param.high:
        return f"{name}: low {param.low} is above high {param.high}"
    if param.step is not None and param.step <= 0:
        return f"{name}: step {param.step} must be positive"
    try:
        param.validate(name, default)
    except ValueError as exc:
        return f"{name}: the default is out of range ({exc})"
    return None


def _choices_problem(name: str, param: Param) -> str | None:
    choices = param.choices
    if not isinstance(choices, tuple | list) or not choices:
        return f"{name}: choices must be a non-empty tuple, not {choices!r}"
    for choice in choices:
        if not isinstance(choice, str | int | float | bool):
            return f"{name}: choice {choice!r} is not text, a number or true/false"
    if len({(type(choice), choice) for choice in choices}) != len(choices):
        return f"{name}: choices repeat a value"
    if (param.low, param.high, param.step) != (None, None, None):
        return f"{name}: a parameter with choices takes no low, high or step"
    try:
        param.validate(name, param.default)
    except ValueError as exc:
        return f"{name}: the default is not among the choices ({exc})"
    return None


def _declaration_line(source: str, class_name: str, attribute: str) -> int | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for statement in node.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [statement.target]
                    if isinstance(statement, ast.AnnAssign)
                    else []
                )
                if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
                    return statement.lineno
    return None


def check_params(
    cls: type[Strategy], params: Mapping[str, object], where: str = ""
) -> dict[str, ParamValue]:
    """``params`` validated against the class's declarations (ValueError names what and where)."""
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(params) - set(cls.params))
    if unknown:
        declared = ", ".join(sorted(cls.params)) or "none"
        raise ValueError(
            f"{prefix}unknown parameter(s) {', '.join(unknown)}; {cls.__name__} declares {declared}"
        )
    checked: dict[str, ParamValue] = {}
    for name, value in params.items():
        try:
            checked[name] = cls.params[name].validate(name, value)
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from None
    return checked


@dataclass(frozen=True, slots=True)
class FileStamp:
    mtime_ns: int
    size: int


def stamp(path: Path) -> FileStamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return FileStamp(info.st_mtime_ns, info.st_size)


class FileWatcher:
    """Remembers each file's modification time and size; :meth:`changed` lists those that moved.

    A file that disappears counts as changed (its reload then fails with "cannot read"), and so
    does its return.
    """

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        self._stamps: dict[Path, FileStamp | None] = {}
        for path in paths:
            self.watch(path)

    def watch(self, path: Path) -> None:
        self._stamps[path] = stamp(path)

    def forget(self, path: Path) -> None:
        self._stamps.pop(path, None)

    @property
    def paths(self) -> list[Path]:
        return list(self._stamps)

    def changed(self) -> list[Path]:
        moved = []
        for path, before in self._stamps.items():
            now = stamp(path)
            if now != before:
                self._stamps[path] = now
                moved.append(path)
        return moved
