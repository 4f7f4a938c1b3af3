"""The ``stom`` command: bad input stops it before anything starts, with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.brokers import Broker, free_port
from tests.support.engine_process import ROOT, EngineProcess, unique_namespace

pytestmark = pytest.mark.integration


def stom(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30):
    base = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    base["HOME"] = str(cwd)  # no ~/.config/stom from the machine
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('[bus]\nurl = "mqtt://127.0.0.1:1883\n', ["config.toml:2", "invalid TOML"]),
        ("[bus]\nurlx = 1\n", ["config.toml", "urlx"]),
        ('[bus]\nkeepalive_s = "soon"\n', ["config.toml", "keepalive_s", "soon"]),
        ('[bus]\nurl = "http://example.com"\n', ["config.toml", "url", "http://example.com"]),
        ('[bus]\npassword = "hunter2"\n', ["config.toml", "password", "secrets"]),
    ],
    ids=["malformed-toml", "unknown-key", "wrong-type", "bad-broker-url", "password-in-config"],
)
@pytest.mark.parametrize(
    "command", [[], ["engine"], ["status"]], ids=["console", "engine", "status"]
)
def test_bad_config_stops_before_anything_starts(
    tmp_path: Path, config: str, expected: list[str], command: list[str]
) -> None:
    (tmp_path / "config.toml").write_text(config)
    result = stom(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    for fragment in expected:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()  # nothing was started or written


def test_bad_flag_value_is_named(tmp_path: Path) -> None:
    result = stom("status", "--namespace", "no/slashes", cwd=tmp_path)
    assert result.returncode == 2
    assert "--namespace" in result.stderr and "no/slashes" in result.stderr


def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    result = stom("status", cwd=tmp_path, env={"STOM_SIM__RATE": "fast"})
    assert result.returncode == 2
    assert "STOM_SIM__RATE" in result.stderr and "fast" in result.stderr


@pytest.mark.parametrize(
    "command", [[], ["status"], ["engine"]], ids=["console", "status", "engine"]
)
def test_unreachable_broker_with_embedded_off(tmp_path: Path, command: list[str]) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    result = stom(*command, "--broker", url, "--set", "bus.embedded=false", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert url.removeprefix("mqtt://") in result.stderr
    assert "Traceback" not in result.stderr


def test_status_reports_a_running_engine_as_json(tmp_path: Path, mosquitto: Broker) -> None:
    namespace = unique_namespace()
    absent = stom(
        "status", "--json", "--broker", mosquitto.url, "--namespace", namespace, cwd=tmp_path
    )
    assert absent.returncode == 1 and json.loads(absent.stdout)["state"] == "absent"
    engine = EngineProcess(mosquitto.url, namespace).start()
    try:
        for _ in range(50):
            result = stom(
                "status",
                "--json",
                "--broker",
                mosquitto.url,
                "--namespace",
                namespace,
                cwd=tmp_path,
            )
            if result.returncode == 0:
                break
        report = json.loads(result.stdout)
        assert report["state"] == "running"
        assert report["status"]["pid"] == engine.pid
        assert report["stats"]["instruments"] >= 5
        human = stom("status", "--broker", mosquitto.url, "--namespace", namespace, cwd=tmp_path)
        assert human.returncode == 0 and "engine: running" in human.stdout
    finally:
        engine.stop()
    stopped = stom(
        "status", "--json", "--broker", mosquitto.url, "--namespace", namespace, cwd=tmp_path
    )
    assert stopped.returncode == 1 and json.loads(stopped.stdout)["state"] == "stopped"


def test_sim_list(tmp_path: Path) -> None:
    result = stom("sim", "list", cwd=tmp_path)
    assert result.returncode == 0
    assert "KRW-BTC.SIM" in result.stdout and "005930.SIM" in result.stdout


assert ROOT.exists()


def test_options_before_and_after_the_command_name_both_count() -> None:
    from engine.cli.main import build_parser, overrides_from

    args = build_parser().parse_args(
        ["--set", "data.dir=/a", "--namespace", "n1", "data", "sample", "--set", "sim.seed=3"]
    )
    values, _ = overrides_from(args)
    # A subcommand's defaults used to overwrite what came before its name.
    assert values == {"bus.namespace": "n1", "data.dir": "/a", "sim.seed": "3"}
    args = build_parser().parse_args(["status", "--broker", "mqtt://h:1", "--set", "a.b=1"])
    assert overrides_from(args)[0] == {"bus.url": "mqtt://h:1", "a.b": "1"}
