"""Loading settings: sources and their priority, and the messages for every kind of mistake."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.config.loader import ConfigError, load_settings
from engine.config.settings import BusSettings, Settings, SimSettings
from engine.config.validation import check_settings
from tests.support.brokers import Broker


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path | None = None, **kwargs: object) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as caught:
        load_settings(path, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- the TOML file -----------------------------------------------------------------------------


def test_file_values_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [bus]
        url = "mqtts://broker.example:8883"
        keepalive_s = 30
        flush_hz = 20
        [app]
        keymap = { quit = "ctrl+q" }
        """,
    )
    settings, used = load_settings(path, env={})
    assert used == path
    assert settings.bus.url == "mqtts://broker.example:8883"
    assert settings.bus.keepalive_s == 30
    assert settings.bus.flush_hz == 20.0
    assert isinstance(settings.bus.flush_hz, float)
    assert settings.app.keymap == {"quit": "ctrl+q"}
    assert settings.sim == SimSettings()  # untouched sections keep their defaults


def test_malformed_toml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurl = "mqtt://127.0.0.1:1883"\nkeepalive_s = = 5\n')
    assert load_error(path) == f"{path}:3:15: invalid TOML: Invalid value"


def test_toml_error_at_end_of_file_still_has_a_position(tmp_path: Path) -> None:
    path = write(tmp_path, '[sim]\ninstruments = ["KRW-BTC",\n')
    assert load_error(path).startswith(f"{path}:3:1: invalid TOML: ")


def test_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[bus]\nusername = "\xff"\n')
    assert load_error(path) == f"{path}:2: invalid TOML: the file is not UTF-8 text"


def test_unknown_key_names_section_key_and_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurlx = "mqtt://h"\n')
    message = load_error(path)
    assert message.startswith(f"{path}: unknown key [bus] urlx: did you mean url?")
    assert "(known keys: url, namespace, embedded, username, keepalive_s," in message


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[buss]\nurl = 1\n")
    message = load_error(path)
    assert message.startswith(f"{path}: unknown section [buss]: did you mean bus?")
    assert "known sections: bus, engine, sim, app, secrets, data" in message


def test_setting_outside_a_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'url = "mqtt://h"\n')
    assert load_error(path).startswith(f"{path}: unknown top-level key url:")


def test_section_given_as_a_value_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "bus = 5\n")
    assert load_error(path) == f"{path}: bus = 5: expected a section [bus]"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('[bus]\nkeepalive_s = "x"', '[bus] keepalive_s = "x": expected an integer'),
        ("[bus]\nkeepalive_s = 5.5", "[bus] keepalive_s = 5.5: expected an integer"),
        ("[bus]\nembedded = 1", "[bus] embedded = 1: expected true or false"),
        ("[bus]\nnamespace = 5", "[bus] namespace = 5: expected a string"),
        ('[sim]\nrate = "fast"', '[sim] rate = "fast": expected a number'),
        (
            '[sim]\ninstruments = "KRW-BTC"',
            '[sim] instruments = "KRW-BTC": expected an array of strings',
        ),
        ('[sim]\ninstruments = ["KRW-BTC", 5]', '[sim] instruments = ["KRW-BTC", 5]: expected'),
        ('[app]\nkeymap = "q"', '[app] keymap = "q": expected a table of strings'),
    ],
)
def test_wrong_type_names_key_and_value(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, line + "\n")
    assert load_error(path).startswith(f"{path}: {expected}")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurlx = 1\nkeepalive_s = "x"\n[engine]\nbar_history = true\n')
    problems = load_error(path).splitlines()
    assert len(problems) == 3
    assert "urlx" in problems[0] and "keepalive_s" in problems[1] and "bar_history" in problems[2]


def test_password_in_config_file_points_to_the_secret_sources(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\npassword = "hunter2"\n')
    message = load_error(path)
    assert message.startswith(f"{path}: [bus] password is a secret")
    assert "STOM_BUS__PASSWORD" in message and "secrets file" in message
    assert "hunter2" not in message


def test_venue_keys_in_config_file_point_to_the_secret_sources(tmp_path: Path) -> None:
    path = write(tmp_path, '[upbit]\naccess_key = "AKIA-zzz"\n')
    message = load_error(path)
    assert "[upbit] access_key is a secret" in message and "STOM_UPBIT__ACCESS_KEY" in message
    assert "AKIA" not in message


# --- semantic checks ---------------------------------------------------------------------------


def test_bad_broker_url_names_key_value_and_shape(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurl = "http://x"\n')
    assert load_error(path) == (
        f'{path}: [bus] url = "http://x": broker URL must be mqtt://host:port or mqtts://host:port'
    )


def test_password_in_broker_url_is_refused_and_not_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurl = "mqtt://bob:hunter2@broker:1883"\n')
    message = load_error(path)
    assert '[bus] url = "mqtt://bob:***@broker:1883"' in message
    assert "[bus] username" in message and "STOM_BUS__PASSWORD" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("section", "key", "literal", "expected"),
    [
        ("bus", "namespace", '"a/b"', "must be 1-64 characters"),
        ("bus", "namespace", '""', "must be 1-64 characters"),
        ("bus", "keepalive_s", "0", "expected 1 to 3600 seconds"),
        ("bus", "keepalive_s", "3601", "expected 1 to 3600 seconds"),
        ("bus", "flush_hz", "0.5", "expected 1 to 100 per second"),
        ("bus", "flush_hz", "101", "expected 1 to 100 per second"),
        ("bus", "flush_hz", "nan", "expected 1 to 100 per second"),
        ("bus", "tls_ca_file", '"/nonexistent/ca.pem"', "file /nonexistent/ca.pem does not exist"),
        ("engine", "log_level", '"verbose"', "expected one of debug, info, warning, error"),
        ("engine", "bar_history", "0", "expected 1 to 10000 bars"),
        ("engine", "bar_history", "10001", "expected 1 to 10000 bars"),
        ("sim", "rate", "0", "expected more than 0 and at most 100,000"),
        ("sim", "rate", "100001", "expected more than 0 and at most 100,000"),
        ("sim", "rate", "inf", "expected more than 0"),
        ("sim", "book_depth", "9", "expected 10 to 200 levels"),
        ("sim", "book_depth", "201", "expected 10 to 200 levels"),
        ("sim", "instruments", "[]", "expected at least one symbol"),
        ("sim", "instruments", '["KRW-BTC", "KRW-BTC"]', "KRW-BTC listed more than once"),
        ("app", "tick_points", "9", "expected 10 to 10000 points"),
        ("app", "tick_points", "10001", "expected 10 to 10000 points"),
    ],
)
def test_out_of_range_values_name_key_and_value(
    tmp_path: Path, section: str, key: str, literal: str, expected: str
) -> None:
    path = write(tmp_path, f"[{section}]\n{key} = {literal}\n")
    message = load_error(path)
    assert message.startswith(f"{path}: [{section}] {key} = {literal}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("section", "key", "literal"),
    [
        ("bus", "keepalive_s", "1"),
        ("bus", "keepalive_s", "3600"),
        ("bus", "flush_hz", "1"),
        ("bus", "flush_hz", "100"),
        ("bus", "url", '"mqtt://[::1]"'),
        ("engine", "log_level", '"debug"'),
        ("sim", "rate", "100000"),
        ("sim", "book_depth", "10"),
        ("sim", "book_depth", "200"),
        ("engine", "bar_history", "10000"),
        ("app", "tick_points", "10"),
    ],
)
def test_values_at_the_limits_are_accepted(
    tmp_path: Path, section: str, key: str, literal: str
) -> None:
    load_settings(write(tmp_path, f"[{section}]\n{key} = {literal}\n"), env={})


def test_existing_tls_files_are_accepted_and_key_needs_cert(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "client.key").write_text("x")
    path = write(tmp_path, f'[bus]\ntls_ca_file = "{tmp_path}/ca.pem"\n')
    assert load_settings(path, env={})[0].bus.tls_ca_file == f"{tmp_path}/ca.pem"
    path = write(tmp_path, f'[bus]\ntls_key_file = "{tmp_path}/client.key"\n')
    assert "set [bus] tls_cert_file too" in load_error(path)


def test_check_settings_reports_section_and_key_only_for_bad_values() -> None:
    assert check_settings(Settings(), catalog=None) == []
    bad_default = Settings(bus=BusSettings(keepalive_s=0))
    problems = check_settings(bad_default, catalog=None)
    assert [(p.section, p.key) for p in problems] == [("bus", "keepalive_s")]


def test_symbols_are_checked_against_the_simulator_catalogue() -> None:
    settings = Settings(sim=SimSettings(instruments=["KRW-BTC", "NOPE"]))
    problems = check_settings(settings, catalog={"KRW-BTC": object(), "005930": object()})
    assert len(problems) == 1
    assert problems[0].key == "instruments"
    assert "not in the simulator's catalogue: NOPE" in problems[0].reason
    assert "005930, KRW-BTC" in problems[0].reason
    assert check_settings(settings, catalog=None) == []  # no catalogue yet: no check


def test_default_instruments_are_in_the_real_catalogue() -> None:
    catalog = pytest.importorskip("engine.sim.catalog")
    missing = [symbol for symbol in SimSettings().instruments if symbol not in catalog.SIM_CATALOG]
    assert missing == []


# --- environment and flags ---------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[bus]\nkeepalive_s = 30\nflush_hz = 20\n")
    env = {
        "STOM_BUS__KEEPALIVE_S": "60",
        "STOM_BUS__NAMESPACE": "123",  # a number, but the key is text: taken as text
        "STOM_BUS__USERNAME": '"quoted"',  # a TOML string literal
        "STOM_BUS__EMBEDDED": "false",
        "STOM_SIM__RATE": "5",
        "STOM_SIM__INSTRUMENTS": '["KRW-BTC", "005930"]',
        "STOM_APP__KEYMAP": '{ quit = "ctrl+q" }',
    }
    settings, _ = load_settings(path, env=env)
    assert settings.bus.keepalive_s == 60
    assert settings.bus.flush_hz == 20.0  # from the file: the environment did not set it
    assert settings.bus.namespace == "123"
    assert settings.bus.username == "quoted"
    assert settings.bus.embedded is False
    assert settings.sim.rate == 5.0
    assert settings.sim.instruments == ["KRW-BTC", "005930"]
    assert settings.app.keymap == {"quit": "ctrl+q"}


def test_bad_environment_value_names_the_variable() -> None:
    message = load_error(env={"STOM_BUS__KEEPALIVE_S": "abc"})
    assert message == 'environment STOM_BUS__KEEPALIVE_S="abc": expected an integer'


def test_environment_value_cannot_smuggle_in_another_key() -> None:
    message = load_error(env={"STOM_BUS__KEEPALIVE_S": "7\nflush_hz = 50"})
    assert message.startswith("environment STOM_BUS__KEEPALIVE_S=")
    assert message.endswith(": expected an integer")


def test_semantic_problem_from_environment_names_the_variable() -> None:
    message = load_error(env={"STOM_BUS__URL": "http://x"})
    assert message.startswith('environment STOM_BUS__URL="http://x": broker URL must be')


def test_unknown_environment_key_is_named_but_secrets_and_others_are_ignored(
    tmp_path: Path,
) -> None:
    message = load_error(env={"STOM_BUS__KEEPALIVE": "5"})
    assert message.startswith("environment STOM_BUS__KEEPALIVE: unknown key [bus] keepalive")
    assert "did you mean keepalive_s?" in message
    env = {
        "STOM_BUS__PASSWORD": "hunter2",
        "STOM_UPBIT__ACCESS_KEY": "k",
        "STOM_CONFIG_DIR": "/x",  # no double underscore: not a setting
        "PATH": "/usr/bin",
    }
    assert load_settings(write(tmp_path, ""), env=env)[0] == Settings()
    with pytest.raises(ConfigError, match=r"unknown section \[foo\]"):
        load_settings(None, env={"STOM_FOO__BAR": "1"})


def test_flags_override_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nurl = "mqtt://file:1"\nnamespace = "file"\n')
    env = {"STOM_BUS__URL": "mqtt://env:2", "STOM_BUS__NAMESPACE": "env"}
    overrides = {"bus.url": "mqtt://flag:3", "bus.namespace": None, "sim.rate": "9"}
    settings, _ = load_settings(path, env=env, overrides=overrides)
    assert settings.bus.url == "mqtt://flag:3"
    assert settings.bus.namespace == "env"  # a None override is a flag not given
    assert settings.sim.rate == 9.0  # flag text is read like an environment value


def test_bad_flag_value_names_the_flag() -> None:
    message = load_error(overrides={"bus.url": "http://x"}, flag_names={"bus.url": "--broker"})
    assert message.startswith('--broker "http://x": broker URL must be')
    message = load_error(overrides={"bus.keepalive_s": "x"})
    assert message == 'override [bus] keepalive_s = "x": expected an integer'
    assert "is not a setting" in load_error(overrides={"bus": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[journal]\nsynchronous = "fast"\n', "[journal] synchronous"),
        ("[paper]\norder_latency_ms = -1.0\n", "[paper] order_latency_ms"),
        ('[paper]\nbalances = { KRW = "lots" }\n', "KRW = 'lots'"),
    ],
)
def test_trading_values_are_checked(tmp_path: Path, text: str, expected: str) -> None:
    message = load_error(write(tmp_path, text))
    assert expected in message and "config.toml" in message


def test_a_bad_risk_limit_stops_the_engine_with_the_key(tmp_path: Path, mosquitto: Broker) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "engine", "--set", "risk.price_band_pct=abc",
         "--set", f"data.dir={tmp_path}", "--broker", mosquitto.url, "--namespace", "badrisk"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "risk.price_band_pct = 'abc' is not a decimal number" in result.stderr
