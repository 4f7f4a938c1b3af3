"""Hostile config files: every one loads or gives one-line errors naming the key or line.

A seeded generator mutates the shipped ``config.toml`` (values replaced by wrong types, deep
nesting, huge strings, lines deleted, duplicated, swapped or cut, bytes inserted, unknown
sections) and loads each result through :func:`load_settings`, as ``stom`` does at start. No
mutation may raise anything but :class:`ConfigError`, and each problem in it is one line that
names the file and a line number or a ``[section] key``. A traceback (tomllib's RecursionError at
~400 nested arrays) or a stall (a quadratic regex over a 200 kB string) fails the test.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config.errors import quote
from engine.config.loader import ConfigError, load_settings
from engine.config.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (REPO / "config.toml").read_text(encoding="utf-8")
SEED = int(os.environ.get("STOM_FUZZ_SEED", "20261207"))
MUTATIONS = 600
TIME_BUDGET_S = 60.0
"""Generous on a loaded machine; the run takes about two seconds on its own."""
SLOW_LOAD_S = 2.0
"""One load slower than this is a stall (the 200 kB string took 47 s)."""

_ASSIGNMENT_RE = re.compile(r"^(?P<key>[a-z_]+) = .*$", re.MULTILINE)


def _nested(rng: random.Random) -> str:
    depth = rng.choice([2, 31, 33, 64, 399, 401, 1000, 5000, rng.randint(1, 3000)])
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return "{ a = " * depth + "1" + " }" * depth


def _hostile_value(rng: random.Random) -> str:
    """A TOML value of some type, often the wrong one, sometimes huge or deeply nested."""
    choices: list[Callable[[], str]] = [
        lambda: _nested(rng),
        lambda: quote("a" * rng.choice([1, 1000, 200_000])),
        lambda: quote("mqtt://bob:hunter2@" + "h" * rng.choice([1, 2000])),
        lambda: quote("".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 40)))),
        lambda: str(rng.choice([0, -1, 1, 2**63 - 1, -(2**63), 10**30])),
        lambda: rng.choice(["nan", "inf", "-inf", "-0.0", "1e308", "1e-308", "0.1"]),
        lambda: rng.choice(["true", "false", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27"]),
        lambda: "[" + ", ".join(str(rng.randint(-5, 5)) for _ in range(rng.randint(0, 5))) + "]",
        lambda: '["KRW-BTC", "KRW-BTC"]',
        lambda: '[1, "a", true, [2]]',
        lambda: "{ " + ", ".join(f"k{i} = {i}" for i in range(rng.randint(0, 4))) + " }",
        lambda: '{ KRW = "-1" }',
        lambda: '{ KRW = "1e999999999" }',
        lambda: '"' + "\\u0000" + '"',
        lambda: "'''" + "x\n" * rng.randint(1, 3) + "'''",
        lambda: "",
    ]
    return rng.choice(choices)()


def _mutate(rng: random.Random, text: str) -> bytes:
    lines = text.split("\n")
    kind = rng.randrange(10)
    if kind <= 2:  # a value replaced: the most telling mutation, so the most frequent
        matches = list(_ASSIGNMENT_RE.finditer(text))
        match = rng.choice(matches)
        mutated = text[: match.start()] + f"{match['key']} = {_hostile_value(rng)}"
        return (mutated + text[match.end() :]).encode()
    index = rng.randrange(len(lines))
    if kind == 3:
        del lines[index]
    elif kind == 4:
        lines.insert(index, lines[rng.randrange(len(lines))])
    elif kind == 5:
        other = rng.randrange(len(lines))
        lines[index], lines[other] = lines[other], lines[index]
    elif kind == 6:
        header = rng.choice(
            ["[sim.x]", "[[sim]]", "[venues.nyse]", "[[strategies.enabled]]", "[x]", "[bus"]
        )
        extra = rng.choice(["", f"file = {_hostile_value(rng)}", f"id = {_hostile_value(rng)}"])
        lines[index:index] = [header, extra]
    elif kind == 7:
        line = lines[index]
        at = rng.randrange(len(line) + 1)
        lines[index] = line[:at] + rng.choice("[]{}\"'=#\\\t.,") + line[at:]
    elif kind == 8:
        return text.encode()[: rng.randrange(len(text))]
    else:
        data = bytearray("\n".join(lines).encode())
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        return bytes(data)
    return "\n".join(lines).encode()


def _check_error(error: ConfigError, path: Path) -> None:
    assert error.problems
    for problem in error.problems:
        assert "\n" not in problem and "Traceback" not in problem, problem
        assert problem.startswith((str(path), "default [")), problem
        assert re.match(r"^\S+:\d+(:\d+)?: ", problem) or re.search(
            r"\[[a-z_.]+\]|unknown top-level key", problem
        ), f"neither a line nor a key named: {problem[:300]}"
        assert len(problem) < 4_000, problem[:300]


def test_mutated_configs_load_or_give_one_line_errors(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "config.toml"
    outcomes = {"loaded": 0, "error": 0}
    started = time.monotonic()
    for number in range(MUTATIONS):
        data = _mutate(rng, SHIPPED)
        path.write_bytes(data)
        began = time.monotonic()
        try:
            settings, _ = load_settings(path, env={})
        except ConfigError as error:
            _check_error(error, path)
            outcomes["error"] += 1
        else:
            assert isinstance(settings, Settings)
            outcomes["loaded"] += 1
        assert time.monotonic() - began < SLOW_LOAD_S, f"mutation {number} (seed {SEED}) stalled"
        assert time.monotonic() - started < TIME_BUDGET_S, f"only {number} mutations in budget"
    # Both outcomes occur, so the generator neither only breaks nor only keeps the file valid.
    assert outcomes["loaded"] >= 20 and outcomes["error"] >= 300, outcomes


@pytest.mark.parametrize("depth", [399, 401, 1000, 100_000])
def test_deeply_nested_array_is_a_config_error_with_its_line(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[sim]\nseed = 1\ninstruments = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert str(caught.value) == (
        f"{path}:3:47: invalid TOML: arrays or inline tables nested more than 32 levels deep"
    )


def test_deep_nesting_inside_strings_and_comments_is_not_nesting(tmp_path: Path) -> None:
    brackets = "[" * 500
    path = tmp_path / "config.toml"
    path.write_text(
        f'# {brackets}\n[bus]\nnamespace = "{brackets}"\n'
        f"username = '{brackets}'\ntls_ca_file = '''\n{brackets}'''\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    # The values are read (and the namespace refused for its characters), not the nesting.
    assert "nested" not in str(caught.value)
    assert f"{path}: [bus] namespace = " in str(caught.value)


def test_nested_environment_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"STOM_SIM__INSTRUMENTS": "[" * 5000 + "]" * 5000})
    assert str(caught.value).startswith('environment STOM_SIM__INSTRUMENTS="[[[')
    assert "expected an array of strings" in str(caught.value)


def test_huge_string_for_a_number_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[sim]\nrate = "' + "a" * 200_000 + '"\n')
    began = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert time.monotonic() - began < 1.0
    message = str(caught.value)
    assert message.startswith(f'{path}: [sim] rate = "aaaa') and message.endswith(
        "…: expected a number"
    )
    assert len(message) < 300


def test_password_cut_off_by_the_length_limit_stays_hidden() -> None:
    shown = quote("x" * 980 + "mqtt://bob:hunter2hunter2@host")
    assert "hunter" not in shown and shown.endswith('mqtt://bob:***"…')


def test_stom_reports_deep_nesting_without_a_traceback(tmp_path: Path) -> None:
    """Through the command line, as the user meets it: exit 2, one line, no traceback."""
    path = tmp_path / "config.toml"
    path.write_text("[sim]\ninstruments = " + "[" * 1000 + "]" * 1000 + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--config", str(path), "sim", "list"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"stom: configuration error: {path}:2:47: invalid TOML: arrays or inline tables nested"
        " more than 32 levels deep\n"
    )
