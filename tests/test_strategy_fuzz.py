"""Hostile strategy files from a seeded generator, loaded into the real engine subprocess on a
real Mosquitto beside one good strategy.

Each run draws 54 files: every file-level fault (syntax, encoding, NUL bytes, size, nesting, a
FIFO, a directory, a device, no class, two classes, parameters that cannot work, a class body
that breaks the checks) and 40 behaviours drawn from *where* (import, ``__init__``,
``on_start``, ``on_trade``, ``on_book``, ``on_order``, ``save_state``, ``param_values``) ×
*what* (every kind of
raise, ``BaseException`` included; hangs; tampering with signals and the recursion limit; an
order storm). The engine must stay up and answer ping, list every bad one in error naming its
file and the reason, keep the good one trading, let no traceback reach its log, and still stop
on SIGTERM. Bounded in time: budgets of 0.2 s per callback and 0.3 s per load.
"""

from __future__ import annotations

import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace
from tests.support.remote_engines import remote_engine
from tests.support.strategy_engine import GOOD, Rows, rows_until, strategies_config

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("STOM_FUZZ_SEED", "20261207"))
"""Fixed in CI; set STOM_FUZZ_SEED to draw another run."""
BEHAVIOURS = 40
MAX_HANGS = 5

HEADER = "import asyncio, signal, sys, time\nfrom engine.strategy.api import Param, Strategy\n\n\n"


@dataclass(frozen=True)
class Hostile:
    name: str
    content: bytes | None
    """The file's bytes; None for the special files (FIFO, directory, device)."""
    expected: tuple[str, ...]
    """The error names at least one of these."""


WHAT: dict[str, tuple[str, tuple[str, ...]]] = {
    "exception": ("raise RuntimeError('boom')", ("RuntimeError: boom",)),
    "value": ("raise ValueError('bad value')", ("bad value",)),
    "keyboard": ("raise KeyboardInterrupt", ("KeyboardInterrupt",)),
    "exit": ("sys.exit(4)", ("SystemExit: 4",)),
    "exit0": ("sys.exit()", ("SystemExit",)),
    "genexit": ("raise GeneratorExit", ("GeneratorExit",)),
    "base": ("raise BaseException('raw')", ("BaseException: raw",)),
    "stop": ("raise StopIteration", ("StopIteration",)),
    "cancelled": ("raise asyncio.CancelledError()", ("CancelledError",)),
    "memory": ("raise MemoryError('fake')", ("MemoryError",)),
    "zero": ("1 / 0", ("ZeroDivisionError",)),
    "recursion": ("(lambda f: f(f))(lambda f: f(f))", ("RecursionError",)),
    "import": ("import no_such_module_for_stom", ("ModuleNotFoundError",)),
    "name": ("undefined_name_for_stom", ("NameError",)),
    "loop": ("while True: pass", ("CallbackOverrun",)),
    "sleep": ("time.sleep(3600)", ("CallbackOverrun",)),
    "sigterm": ("signal.signal(signal.SIGTERM, signal.SIG_IGN)", ("SIGTERM",)),
    "sigmask": ("signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})", ("signal",)),
    "recursionlimit": ("sys.setrecursionlimit(50)", ("recursion limit",)),
    "storm": ("[self.ctx.buy(i, 100_000, 1_000_000) for _ in range(200)]", ("order-rate",)),
}
HANGS = {"loop", "sleep"}
NEEDS_I = {"storm"}

WHERE = (
    "import",
    "__init__",
    "on_start",
    "on_trade",
    "on_book",
    "on_order",
    "save_state",
    "param_values",
)


def _behaviour(where: str, what: str) -> str:
    body, _ = WHAT[what]
    if where == "import":
        return HEADER + body + "\n"
    if where == "__init__":
        return (
            HEADER
            + f"class X(Strategy):\n    def __init__(self, ctx, params=None):\n        {body}\n"
        )
    if where == "on_order":
        return HEADER + (
            "class X(Strategy):\n"
            "    def on_trade(self, i, price, size, side, ts):\n"
            "        if not getattr(self, 'sent', False):\n"
            "            self.sent = True\n"
            "            self.ctx.buy(i, self.ctx.size_raw(i, 0.001))\n"
            "    def on_order(self, order):\n"
            f"        {body}\n"
        )
    arguments = {
        "on_start": "self",
        "on_trade": "self, i, price, size, side, ts",
        "on_book": "self, i, ts",
        "save_state": "self",
        "param_values": "self",
    }[where]
    return HEADER + f"class X(Strategy):\n    def {where}({arguments}):\n        {body}\n"


def _file_faults() -> list[Hostile]:
    def text(name: str, source: str, *expected: str) -> Hostile:
        return Hostile(name, source.encode(), expected)

    good_class = "class X(Strategy):\n    pass\n"
    return [
        text("syntax", HEADER + "def (:\n", "SyntaxError"),
        Hostile("latin1", HEADER.encode() + b"x = '\xff\xfe'\n" + good_class.encode(), ("UTF-8",)),
        text("nul", HEADER + "x = 1\0\n" + good_class, "cannot compile", "SyntaxError"),
        text("huge", HEADER + good_class + "#" * 1_100_000 + "\n", "larger than"),
        text("nested", HEADER + "x = " + "(" * 500 + ")" * 500 + "\n", "SyntaxError", "nest"),
        text("empty", HEADER, "defines no Strategy subclass"),
        text("two", HEADER + good_class + "class Y(Strategy):\n    pass\n", "several strategies"),
        text(
            "param_range",
            HEADER + "class X(Strategy):\n    n = Param(5, low=10, high=20)\n",
            "out of range",
        ),
        text(
            "param_step",
            HEADER + "class X(Strategy):\n    n = Param(5, low=1, high=20, step=0)\n",
            "must be positive",
        ),
        text(
            "param_text",
            HEADER + "class X(Strategy):\n    n = Param('five')\n",
            "not a number",
            "declare its choices",
        ),
        text("params_attr", HEADER + "class X(Strategy):\n    params = 5\n", "TypeError"),
        Hostile("fifo", None, ("a FIFO",)),
        Hostile("folder", None, ("a directory",)),
        Hostile("device", None, ("a device",)),
    ]


def generate(rng: random.Random) -> list[Hostile]:
    """The run's hostile files: every file fault and ``BEHAVIOURS`` drawn behaviours."""
    combos = [
        (where, what)
        for where in WHERE
        for what in WHAT
        if what not in NEEDS_I or where in ("on_trade", "on_book")
    ]
    rng.shuffle(combos)
    chosen: list[tuple[str, str]] = []
    hangs = 0
    for where, what in combos:
        if what in HANGS:
            if hangs >= MAX_HANGS:
                continue
            hangs += 1
        chosen.append((where, what))
        if len(chosen) == BEHAVIOURS:
            break
    files = _file_faults()
    for where, what in chosen:
        name = f"{where.strip('_')}_{what}"
        files.append(Hostile(name, _behaviour(where, what).encode(), WHAT[what][1]))
    return files


def _write(folder: Path, hostile: Hostile) -> None:
    path = folder / f"{hostile.name}.py"
    if hostile.content is not None:
        path.write_bytes(hostile.content)
    elif hostile.name == "fifo":
        os.mkfifo(path)
    elif hostile.name == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


def _config(tmp_path: Path, files: list[Hostile]) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD)
    for hostile in files:
        _write(folder, hostile)
    options = "reload_s = 1.0\ncallback_budget_s = 0.2\nload_budget_s = 0.3\n"
    return strategies_config(tmp_path, ("good", *(hostile.name for hostile in files)), options)


def test_the_generator_is_seeded_and_covers_the_faults() -> None:
    first = generate(random.Random(SEED))
    assert [h.name for h in first] == [h.name for h in generate(random.Random(SEED))]
    assert len(first) >= 50
    assert len({h.name for h in first}) == len(first)
    hangs = [h for h in first if h.name.rsplit("_", 1)[-1] in HANGS]
    assert 0 < len(hangs) <= MAX_HANGS


async def test_fifty_hostile_strategy_files_leave_the_engine_up(
    mosquitto: Broker, tmp_path: Path
) -> None:
    files = generate(random.Random(SEED))
    namespace = unique_namespace()
    engine = EngineProcess(
        mosquitto.url,
        namespace,
        rate=3000,
        extra=[
            "--config", str(_config(tmp_path, files)),
            "--set", "risk.max_orders_per_second=10000",
        ],
    ).start()  # fmt: skip
    folder = tmp_path / "strategies"

    def settled(rows: Rows) -> bool:
        errors = [rows.get(h.name, {}).get("state") == "error" for h in files]
        return all(errors) and rows["good"]["fills"] >= 2

    try:
        async with remote_engine(mosquitto.url, namespace) as remote:
            rows = await rows_until(remote, settled, 30)
            problems = []
            for hostile in files:
                row = rows.get(hostile.name, {})
                error = row.get("error") or ""
                if (
                    row.get("state") != "error"
                    or str(folder / f"{hostile.name}.py") not in error
                    or not any(token in error for token in hostile.expected)
                ):
                    problems.append(f"{hostile.name}: {row.get('state')} {error!r}")
            assert problems == []
            assert rows["good"]["state"] == "enabled" and rows["good"]["fills"] >= 2
            ping = await remote.request("ping", {}, timeout=5)
            assert ping.status == "accepted"
        engine.signal(signal.SIGTERM)
        assert engine.wait(15) == 0
        assert "Traceback" not in engine.log()
    finally:
        engine.stop()
