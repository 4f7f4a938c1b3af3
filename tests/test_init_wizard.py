"""``stom init`` driven by scripted answers (a TOML file, or lines on stdin) as a real subprocess:
the files it writes, their modes, their comments, and that bad answers change nothing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from engine.config.loader import load_settings
from engine.config.secrets import load_secrets
from engine.config.settings import SecretsSettings, Settings
from tests.support.engine_process import ROOT

TEMPLATE_COMMENT = (
    "# Topic root stom/<namespace>/, so several STOM installations can share one broker."
)


def stom_init(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "engine", "init", *args],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=home, env=env, check=False,
    )  # fmt: skip


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


ANSWERS = """
venues = ["sim", "upbit"]
mode = "live"
sim_instruments = ["KRW-BTC", "005930"]
upbit_symbols = ["KRW-BTC", "KRW-ETH"]
upbit_access_key = "ak-123"
upbit_secret_key = "sk-456"
max_order_krw = "2,000,000"
daily_loss_krw = "300000"
max_open_orders = 12
broker = "remote"
broker_url = "mqtts://vps.example.com:8883"
broker_username = "trader"
broker_password = "brk-pw-77"
alerts = ["telegram", "email"]
telegram_chat_ids = [123456789]
telegram_bot_token = "42:bot-token"
email_smtp_host = "smtp.example.com"
email_username = "me@example.com"
email_sender = "stom@example.com"
email_recipients = ["me@example.com"]
email_password = "mail-pw-88"
quiet_hours = "23:00-07:00"
"""


def test_answers_file_writes_a_commented_valid_config_and_a_0600_secrets_file(
    tmp_path: Path,
) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS)
    result = stom_init(tmp_path, "--answers", str(answers))
    assert result.returncode == 0, result.stderr
    config = tmp_path / ".config/stom/config.toml"  # the default place
    secrets = tmp_path / ".config/stom/secrets.toml"
    assert f"wrote {config}" in result.stdout and f"wrote {secrets} (mode 0600)" in result.stdout

    settings, _ = load_settings(config, env={})
    assert settings.sim.enabled and settings.sim.instruments == ["KRW-BTC", "005930"]
    upbit = settings.venues.upbit
    assert upbit.enabled and upbit.mode == "live" and upbit.symbols == ["KRW-BTC", "KRW-ETH"]
    assert not settings.venues.binance.enabled
    assert settings.risk.max_order_notional == {"KRW": "2000000"}
    assert settings.risk.daily_loss_limit == {"KRW": "300000"}
    assert settings.risk.max_open_orders == 12
    assert settings.bus.url == "mqtts://vps.example.com:8883" and not settings.bus.embedded
    assert settings.bus.username == "trader"
    telegram, email = settings.alerts.telegram, settings.alerts.email
    assert telegram.enabled and telegram.chat_ids == [123456789]
    assert email.enabled and email.smtp_host == "smtp.example.com" and email.smtp_port == 587
    assert email.recipients == ["me@example.com"]
    assert settings.alerts.rules.quiet_hours == "23:00-07:00"

    text = config.read_text()
    assert TEMPLATE_COMMENT in text  # the documented template, comments and all
    assert 'max_order_notional = {KRW = "2000000"}' in text
    for secret in ("ak-123", "sk-456", "brk-pw-77", "42:bot-token", "mail-pw-88"):
        assert secret not in text and secret not in result.stdout + result.stderr

    assert mode(secrets) == 0o600
    here = Settings(secrets=SecretsSettings(file=str(secrets)))
    values = {k: v.reveal() for k, v in load_secrets(here, env={}).items()}
    assert values == {
        "upbit.access_key": "ak-123",
        "upbit.secret_key": "sk-456",
        "bus.password": "brk-pw-77",
        "alerts.telegram.bot_token": "42:bot-token",
        "alerts.email.password": "mail-pw-88",
    }


def test_piped_answers_in_order(tmp_path: Path) -> None:
    config = tmp_path / "stom.toml"
    lines = [
        "sim", "paper", "KRW-ETH", "1000000", "", "",  # venue, mode, instruments, risk
        "local",  # broker
        "none",  # alerts
    ]  # fmt: skip
    result = stom_init(tmp_path, "--config", str(config), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    settings, _ = load_settings(config, env={})
    assert settings.sim.instruments == ["KRW-ETH"] and settings.bus.embedded
    assert settings.risk.daily_loss_limit == {"KRW": "5000000"}  # Enter kept the value
    assert not (tmp_path / ".config/stom/secrets.toml").exists()  # no secrets asked
    assert mode(config) == 0o644


def test_editing_an_existing_file_keeps_its_comments_and_other_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '# my trading box\n[bus]\n# our broker\nurl = "mqtt://127.0.0.1:1883"  # local for now\n'
        "keepalive_s = 9\n\n[sim]\nrate = 123.0  # slow\n"
    )
    answers = tmp_path / "answers.toml"
    answers.write_text('venues = ["sim"]\nsim_instruments = ["005930"]\nbroker = "local"\n')
    result = stom_init(tmp_path, "--config", str(config), "--answers", str(answers))
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    for kept in (
        "# my trading box",
        "# our broker",
        "# local for now",
        "keepalive_s = 9",
        "# slow",
    ):
        assert kept in text
    settings, _ = load_settings(config, env={})
    assert settings.sim.instruments == ["005930"] and settings.sim.rate == 123.0
    assert settings.bus.keepalive_s == 9


def test_a_bad_answer_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    original = "[sim]\nrate = 100.0\n"
    config.write_text(original)
    answers = tmp_path / "answers.toml"
    answers.write_text('venues = ["sim"]\nsim_instruments = ["NOPE"]\nbroker_password = "x"\n')
    result = stom_init(tmp_path, "--config", str(config), "--answers", str(answers))
    assert result.returncode == 2
    assert "nothing was written" in result.stderr and "NOPE" in result.stderr
    assert "instruments" in result.stderr and "Traceback" not in result.stderr
    assert config.read_text() == original
    assert list(tmp_path.glob(".config-*")) == []

    answers.write_text('venues = ["sim", "nasdaq"]\n')
    result = stom_init(tmp_path, "--config", str(config), "--answers", str(answers))
    assert result.returncode == 2 and "answer venues" in result.stderr and "nasdaq" in result.stderr
    assert config.read_text() == original


def test_a_readable_secrets_file_is_refused_before_anything_changes(tmp_path: Path) -> None:
    secrets = tmp_path / ".config/stom/secrets.toml"
    secrets.parent.mkdir(parents=True)
    secrets.write_text('[bus]\npassword = "old"\n')
    secrets.chmod(0o644)
    config = tmp_path / "config.toml"
    answers = tmp_path / "answers.toml"
    answers.write_text(
        'broker = "remote"\nbroker_url = "mqtts://h:8883"\nbroker_password = "new"\n'
    )
    result = stom_init(tmp_path, "--config", str(config), "--answers", str(answers))
    assert result.returncode == 2 and "chmod 600" in result.stderr
    assert not config.exists() and secrets.read_text() == '[bus]\npassword = "old"\n'

    secrets.chmod(0o600)  # now it is merged: the old keys stay, the new one replaces
    secrets.write_text('# mine\n[bus]\npassword = "old"\n[upbit]\naccess_key = "keep"\n')
    result = stom_init(tmp_path, "--config", str(config), "--answers", str(answers))
    assert result.returncode == 0, result.stderr
    text = secrets.read_text()
    assert "# mine" in text and 'access_key = "keep"' in text and 'password = "new"' in text
    assert mode(secrets) == 0o600
