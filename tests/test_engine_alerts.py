"""Alerts and logs through the real engine subprocess: start, fill, Telegram commands (from the
right chat and from a stranger), the kill switch by email, stop; the JSON log file rotates and
holds no secret."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from engine.service.log_files import JsonLinesFormatter, ScrubbingFormatter
from tests.support.brokers import Broker
from tests.support.engine_process import ROOT, EngineProcess, unique_namespace
from tests.support.fake_smtp import FakeSmtp
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.integration

TOKEN = "777:engine-bot-token-xyz"
SMTP_USER, SMTP_PASSWORD = "ops@example.com", "smtp-pass-5150"
CHAT, STRANGER = 4242, 31337


def write_config(tmp: Path, bot: FakeTelegram, smtp: FakeSmtp) -> tuple[Path, Path]:
    secrets = tmp / "secrets.toml"
    secrets.write_text(
        f'[alerts.telegram]\nbot_token = "{TOKEN}"\n[alerts.email]\npassword = "{SMTP_PASSWORD}"\n'
    )
    secrets.chmod(0o600)
    config = tmp / "config.toml"
    config.write_text(
        f'[engine]\nlog_file = "{tmp}/logs/engine.log"\nlog_format = "json"\n'
        "log_max_mb = 0.01\nlog_backups = 2\n"
        f'[secrets]\nfile = "{secrets}"\n'
        f'[alerts.telegram]\nenabled = true\nchat_ids = [{CHAT}]\napi_url = "{bot.url}"\n'
        f'ca_file = "{bot.certs.ca_file}"\npoll_timeout_s = 2\n'
        f'[alerts.email]\nenabled = true\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
        f'username = "{SMTP_USER}"\nsender = "stom@example.com"\n'
        f'recipients = ["trader@example.com"]\nca_file = "{smtp.certs.ca_file}"\n'
    )
    return config, secrets


@contextlib.contextmanager
def alerting(tmp: Path) -> Iterator[tuple[FakeTelegram, FakeSmtp, Path, Path]]:
    """A fake Telegram bot API and SMTP server, the config that alerts through both (its keys in
    a secrets file) and an empty data folder: ``(bot, smtp, config, data)``."""
    with (
        FakeTelegram(TOKEN, tmp / "tg") as bot,
        FakeSmtp(SMTP_USER, SMTP_PASSWORD, tmp / "smtp") as smtp,
    ):
        config, _ = write_config(tmp, bot, smtp)
        data = tmp / "data"
        data.mkdir()
        yield bot, smtp, config, data


async def until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def with_text(bot: FakeTelegram, chat: int, part: str) -> list[str]:
    return [text for text in bot.messages_to(chat) if part in text]


async def flood_bad_commands(broker: Broker, namespace: str, count: int) -> None:
    """Commands with a reply topic outside the namespace: each is refused with a warning."""
    topics = Topics(namespace)
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for n in range(count):
            command = p.Command(id=f"bad{n}", type="ping", reply_to="elsewhere/x", args={})
            await client.publish(topics.commands, encode(command), qos=1)


async def test_engine_alerts_commands_and_rotated_json_logs(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    with alerting(tmp_path) as (bot, smtp, config, data):
        engine = EngineProcess(
            mosquitto.url, namespace, data_dir=data, extra=["--config", str(config)]
        ).start()
        try:
            await until(lambda: with_text(bot, CHAT, "started on"))
            assert "(new journal)" in with_text(bot, CHAT, "started on")[0]
            await until(lambda: any("started" in m["Subject"] for m in smtp.messages))

            flags = ["--broker", mosquitto.url, "--namespace", namespace, "--config", str(config)]
            bought = subprocess.run(
                [sys.executable, "-m", "engine", "order", "buy", "KRW-BTC.SIM", "0.01",
                 "--type", "market", "--id", "alert-1", *flags],
                capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
            )  # fmt: skip
            assert bought.returncode == 0, bought.stdout + bought.stderr
            # A market order may fill in parts across levels: one alert per fill.
            fill = await until(lambda: with_text(bot, CHAT, "[order alert-1]"))
            assert "FILL buy " in fill[0] and "KRW-BTC.SIM" in fill[0]

            for text in ("/status", "/kill", "/kill confirm"):
                bot.push(STRANGER, text)
            bot.push(CHAT, "/status")
            status = await until(lambda: with_text(bot, CHAT, "kill switch:"))
            assert status[0].startswith("running: broker") and "kill switch: off" in status[0]
            bot.push(CHAT, "/kill")
            await until(lambda: with_text(bot, CHAT, "Send /kill confirm"))
            bot.push(CHAT, "/kill confirm")
            await until(lambda: any("KILL SWITCH ON" in m["Subject"] for m in smtp.messages))
            assert bot.messages_to(STRANGER) == []

            await flood_bad_commands(mosquitto, namespace, 300)
            logs = tmp_path / "logs"
            await until((logs / "engine.log.2").exists)
            engine.stop()
            assert engine.process is not None and engine.process.returncode == 0
            await until(lambda: with_text(bot, CHAT, "stopping."))
        finally:
            engine.stop()

    files = sorted(logs.iterdir())
    assert [f.name for f in files] == ["engine.log", "engine.log.1", "engine.log.2"]
    lines = [line for f in files for line in f.read_text().splitlines()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    assert all(f.stat().st_size <= 0.01 * 1024 * 1024 + 1024 for f in files)
    assert any("rejected command" in e["message"] for e in entries)
    newest = json.loads((logs / "engine.log").read_text().splitlines()[-1])
    assert newest["message"].endswith("stopped")
    # Earlier lines rotated out of the file; stderr (journald under systemd) keeps them all.
    stderr = engine.log()
    assert "KILL SWITCH" in stderr and "ignored a Telegram message from chat 31337" in stderr
    everything = "\n".join(lines) + stderr
    for secret in (TOKEN, SMTP_PASSWORD):
        assert secret not in everything


def test_scrubbing_formatter_hides_secret_values_in_any_message() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "POST https://api/bot%s/sendMessage", (TOKEN,), None
    )
    text = ScrubbingFormatter(JsonLinesFormatter(), [TOKEN, "abc"]).format(record)
    assert (
        TOKEN not in text and json.loads(text)["message"] == "POST https://api/bot***/sendMessage"
    )
