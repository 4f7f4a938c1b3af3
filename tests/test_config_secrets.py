"""Secrets: the redacted type, the 0600 secrets file, and the environment winning over it."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import msgspec
import pytest

from engine.config.errors import ConfigError
from engine.config.secrets import Secret, broker_password, is_secret_key, load_secrets
from engine.config.settings import SecretsSettings, Settings

VALUE = "hunter2-very-secret"


def settings_with(path: Path | str) -> Settings:
    return Settings(secrets=SecretsSettings(file=str(path)))


def secrets_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- Secret ------------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(VALUE)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret:>40}",
        f"{secret:.3}",
        "%s %r" % (secret, secret),  # noqa: UP031 (the old style is what logging uses)
        "{}".format(secret),  # noqa: UP032
        str([secret]),
        str({"bus.password": secret}),
    ]
    for text in shown:
        assert VALUE not in text
        assert "***" in text
    assert repr(secret) == "Secret('***')"
    assert secret.reveal() == VALUE


def test_secret_is_redacted_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(VALUE)
    log = logging.getLogger("test.secrets")
    with caplog.at_level(logging.DEBUG, logger="test.secrets"):
        log.info("password %s", secret)
        log.info("password %r", secret)
        log.info("settings %s", {"password": secret})
        try:
            raise RuntimeError(f"login failed with {secret}")
        except RuntimeError:
            log.exception("broker")
    assert len(caplog.records) == 4
    assert VALUE not in caplog.text
    assert "Secret('***')" in caplog.text


def test_secret_does_not_leak_through_serialisation() -> None:
    with pytest.raises(TypeError):
        msgspec.json.encode(Secret(VALUE))
    assert not hasattr(Secret(VALUE), "__dict__")  # no vars() to dump
    assert VALUE.encode() not in pickle.dumps(repr(Secret(VALUE)))


def test_secret_equality_and_hashing() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"  # never equal to the plain text, so a guess cannot be confirmed
    with pytest.raises(TypeError):
        hash(Secret("a"))
    assert not Secret("")
    assert Secret("x")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("bus.password", True),
        ("access_key", True),
        ("secret_key", True),
        ("api_token", True),
        ("app_secret", True),
        ("url", False),
        ("keepalive_s", False),
        ("tls_key_file", False),
        ("username", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


# --- the secrets file --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_secrets_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, f'[bus]\npassword = "{VALUE}"\n', mode)
    with pytest.raises(ConfigError) as caught:
        load_secrets(settings_with(path), env={})
    message = str(caught.value)
    assert message.startswith(f"{path}: the secrets file has mode {mode:04o}")
    assert f"chmod 600 {path}" in message
    assert VALUE not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_secrets_file_is_read(tmp_path: Path, mode: int) -> None:
    text = f'[bus]\npassword = "{VALUE}"\n[upbit]\naccess_key = "ak"\nsecret_key = "sk"\n'
    path = secrets_file(tmp_path, text, mode)
    secrets = load_secrets(settings_with(path), env={})
    assert {key: secret.reveal() for key, secret in secrets.items()} == {
        "bus.password": VALUE,
        "upbit.access_key": "ak",
        "upbit.secret_key": "sk",
    }
    assert all(isinstance(secret, Secret) for secret in secrets.values())


def test_home_in_secrets_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    secrets_file(tmp_path, f'[bus]\npassword = "{VALUE}"\n', 0o600)
    password = broker_password(settings_with("~/secrets.toml"), env={})
    assert password is not None and password.reveal() == VALUE


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '[bus]\npassword = "from-file"\n[kis]\naccount = "1"\n', 0o600)
    env = {
        "STOM_BUS__PASSWORD": "from-env",
        "STOM_KIS__ACCOUNT": "2",  # not secret-looking, but the file makes it a secret
        "STOM_UPBIT__ACCESS_KEY": "ak",
        "STOM_BUS__KEEPALIVE_S": "5",  # a setting, not a secret
        "STOM_BUS__USERNAME": "bob",
    }
    secrets = load_secrets(settings_with(path), env)
    assert {key: secret.reveal() for key, secret in secrets.items()} == {
        "bus.password": "from-env",
        "kis.account": "2",
        "upbit.access_key": "ak",
    }


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '[bus]\npassword = "from-file"\n', 0o600)
    password = broker_password(settings_with(path), {"STOM_BUS__PASSWORD": ""})
    assert password is not None and password.reveal() == "from-file"


def test_no_file_and_no_environment_means_no_password(tmp_path: Path) -> None:
    assert broker_password(settings_with(tmp_path / "absent.toml"), env={}) is None
    assert broker_password(settings_with(""), env={}) is None
    password = broker_password(settings_with(tmp_path / "absent.toml"), {"STOM_BUS__PASSWORD": "p"})
    assert password == Secret("p")


def test_malformed_secrets_file_has_a_position_but_no_value(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, f'[bus]\npassword = "{VALUE}\n', 0o600)
    with pytest.raises(ConfigError) as caught:
        load_secrets(settings_with(path), env={})
    assert str(caught.value).startswith(f"{path}:2:")
    assert VALUE not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[bus]\npassword = 12345\n", "bus.password must be a string, not int"),
        ('password = "x"\n', "password must be inside a section"),
    ],
)
def test_secrets_must_be_strings_in_sections(tmp_path: Path, text: str, expected: str) -> None:
    path = secrets_file(tmp_path, text, 0o600)
    with pytest.raises(ConfigError) as caught:
        load_secrets(settings_with(path), env={})
    assert expected in str(caught.value)
    assert "12345" not in str(caught.value)


def test_secrets_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_secrets(settings_with(tmp_path), env={})


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_mode_checked_is_the_target_of_a_symlink(tmp_path: Path) -> None:
    target = secrets_file(tmp_path, '[bus]\npassword = "x"\n', 0o644)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="0644"):
        load_secrets(settings_with(link), env={})
