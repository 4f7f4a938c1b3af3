"""Alerts: the rules (events, rate limits, quiet hours), and the real senders against loopback
fakes: an HTTPS Telegram Bot API stand-in and an SMTP server that requires STARTTLS and a login.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.alerts.router import AlertRouter, Channel
from engine.alerts.rules import QuietHours, RateLimiter
from engine.alerts.wiring import EngineAlerts, build_alerts
from engine.config.alert_settings import AlertRules, AlertsSettings, EmailAlerts, TelegramAlerts
from engine.config.settings import SecretsSettings, Settings
from tests.support.fake_smtp import FakeSmtp
from tests.support.fake_telegram import FakeTelegram
from tests.support.trading import BTC, Desk, desk_settings, open_desk

TOKEN = "123456:TEST-bot-token-never-logged"
SMTP_USER, SMTP_PASSWORD = "alerts@example.com", "smtp secret"
CHAT, STRANGER = 111, 999


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send(self, text: str) -> None:
        self.texts.append(text)


class Clocks:
    def __init__(self, wall: dt.datetime) -> None:
        self.mono = 1000.0
        self.wall = wall


async def settle(router: AlertRouter) -> None:
    await router.drain(1.0)


async def test_events_rate_limit_and_quiet_hours_per_channel() -> None:
    # 12:00 in Seoul is 03:00 UTC; quiet hours 23:00-07:00 Seoul time.
    clocks = Clocks(dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC))
    fast, slow = Recorder(), Recorder()
    rules = AlertRules(quiet_hours="23:00-07:00", timezone="Asia/Seoul", quiet_events=["risk"])
    router = AlertRouter(
        [
            Channel("fast", fast, frozenset({"fill", "risk"}), RateLimiter(3)),
            Channel("slow", slow, frozenset({"risk", "engine"}), RateLimiter(100)),
        ],
        QuietHours(rules),
        monotonic=lambda: clocks.mono,
        wall=lambda: clocks.wall,
    )
    task = asyncio.create_task(router.run())
    try:
        for n in range(5):
            router.submit("fill", f"fill {n}")
        router.submit("engine", "engine started")
        await settle(router)
        # Three fills in the minute, two dropped; the engine event goes only where wanted.
        assert fast.texts == ["fill 0", "fill 1", "fill 2"]
        assert slow.texts == ["engine started"]

        clocks.mono += 61  # a new minute: the next message says what was dropped
        router.submit("risk", "KILL SWITCH ON")
        await settle(router)
        assert fast.texts[-1] == "KILL SWITCH ON\n(2 more alerts dropped by the rate limit)"
        assert slow.texts[-1] == "KILL SWITCH ON"

        clocks.wall = dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)  # 00:30 in Seoul: quiet
        clocks.mono += 61
        router.submit("fill", "quiet fill")
        router.submit("engine", "quiet engine")
        router.submit("risk", "quiet risk")
        await settle(router)
        assert fast.texts[-1] == "quiet risk" and "quiet fill" not in fast.texts
        assert slow.texts[-1] == "quiet risk" and "quiet engine" not in slow.texts
        assert router.quiet_dropped == 2

        clocks.wall = dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC)  # 07:00 in Seoul: over
        router.submit("fill", "morning fill")
        await settle(router)
        assert fast.texts[-1] == "morning fill"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_quiet_hours_inside_a_day_and_across_midnight() -> None:
    day = QuietHours(AlertRules(quiet_hours="12:00-13:30", timezone="UTC"))
    at = lambda h, m: dt.datetime(2026, 1, 1, h, m, tzinfo=dt.UTC)  # noqa: E731
    assert [day.is_quiet(at(h, m)) for h, m in ((11, 59), (12, 0), (13, 29), (13, 30))] == [
        False, True, True, False,
    ]  # fmt: skip
    night = QuietHours(AlertRules(quiet_hours="22:00-06:00", timezone="UTC"))
    assert [night.is_quiet(at(h, 0)) for h in (21, 22, 0, 5, 6)] == [False, True, True, True, False]
    assert not QuietHours(AlertRules()).is_quiet(at(3, 0))


def alert_settings(tmp: Path, bot: FakeTelegram, smtp: FakeSmtp, **telegram: Any) -> Settings:
    base = desk_settings(tmp)
    return Settings(
        journal=base.journal,
        paper=base.paper,
        risk=base.risk,
        secrets=SecretsSettings(file=""),
        alerts=AlertsSettings(
            telegram=TelegramAlerts(
                enabled=True,
                chat_ids=[CHAT],
                api_url=bot.url,
                ca_file=str(bot.certs.ca_file),
                poll_timeout_s=2,
                **telegram,
            ),
            email=EmailAlerts(
                enabled=True,
                smtp_host="127.0.0.1",
                smtp_port=smtp.port,
                username=SMTP_USER,
                sender="stom@example.com",
                recipients=["trader@example.com"],
                events=["risk", "engine"],
                ca_file=str(smtp.certs.ca_file),
            ),
        ),
    )


SECRETS_ENV = {
    "STOM_ALERTS__TELEGRAM__BOT_TOKEN": TOKEN,
    "STOM_ALERTS__EMAIL__PASSWORD": SMTP_PASSWORD,
}


@contextlib.asynccontextmanager
async def running(alerts: EngineAlerts) -> AsyncIterator[EngineAlerts]:
    task = asyncio.create_task(alerts.run())
    try:
        yield alerts
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await alerts.close()


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def buy(desk: Desk, quantity: str = "0.01") -> str:
    reply = await desk.command(
        "order.submit", instrument=BTC, side="buy", type="market", quantity=quantity
    )
    assert reply.status == "accepted", reply.reason
    desk.advance(11)
    return reply.result["order"]["client_order_id"]


async def test_alerts_reach_telegram_and_email_and_commands_obey_chat_ids(tmp_path: Path) -> None:
    with (
        FakeTelegram(TOKEN, tmp_path / "tg") as bot,
        FakeSmtp(SMTP_USER, SMTP_PASSWORD, tmp_path / "smtp") as smtp,
    ):
        settings = alert_settings(tmp_path, bot, smtp)
        desk = open_desk(settings)
        alerts = build_alerts(settings, desk.oms, desk.clock, lambda: "running", SECRETS_ENV)
        assert alerts is not None
        async with running(alerts):
            alerts.started("e1", desk.oms)
            coid = await buy(desk)
            fill = await until(lambda: [t for t in bot.messages_to(CHAT) if "FILL" in t])
            assert fill == [f"FILL buy 0.01 KRW-BTC.SIM @ 50000000 fee 250 KRW [order {coid}]"]
            started = (await until(lambda: list(smtp.messages)))[0]
            assert "Engine e1 started" in started["Subject"] and smtp.logins == [SMTP_USER]
            assert started["To"] == "trader@example.com"

            # A stranger: no reply at all, and nothing happens.
            for text in ("/status", "/kill", "/kill confirm", "/pause"):
                bot.push(STRANGER, text)
            bot.push(CHAT, "/status")
            status = await until(lambda: [t for t in bot.messages_to(CHAT) if "kill switch" in t])
            assert "kill switch: off" in status[0] and "open orders: 0" in status[0]
            assert bot.messages_to(STRANGER) == []
            assert not desk.oms.risk_state.kill_switch

            bot.push(CHAT, "/positions")
            positions = await until(
                lambda: [t for t in bot.messages_to(CHAT) if "KRW-BTC.SIM:" in t]
            )
            assert positions[0].startswith("KRW-BTC.SIM: 0.01 @ 50000000")

            bot.push(CHAT, "/kill confirm")  # no /kill before it: refused
            await until(lambda: any("No /kill to confirm" in t for t in bot.messages_to(CHAT)))
            assert not desk.oms.risk_state.kill_switch
            bot.push(CHAT, "/kill")
            await until(lambda: any("Send /kill confirm" in t for t in bot.messages_to(CHAT)))
            assert not desk.oms.risk_state.kill_switch
            bot.push(CHAT, "/kill confirm")
            await until(lambda: desk.oms.risk_state.kill_switch)
            assert "Telegram" in (desk.oms.risk_state.kill_reason or "")
            flatten = [o for o in desk.oms.orders.values() if o.client_order_id != coid]
            assert len(flatten) == 1 and flatten[0].side.value == "sell"
            # The trip goes out as a risk alert on both channels.
            emails = await until(lambda: smtp.messages if len(smtp.messages) >= 2 else None)
            assert "KILL SWITCH ON" in emails[1]["Subject"]
            await until(lambda: any("KILL SWITCH ON:" in t for t in bot.messages_to(CHAT)))
            assert bot.messages_to(STRANGER) == []
            assert len(smtp.messages) == 2  # no fill by email: not in its events
        desk.close()
        assert all(path.startswith(f"/bot{TOKEN}/") for path in bot.requests)


async def test_telegram_rate_limit_holds(tmp_path: Path) -> None:
    with (
        FakeTelegram(TOKEN, tmp_path / "tg") as bot,
        FakeSmtp(SMTP_USER, SMTP_PASSWORD, tmp_path / "smtp") as smtp,
    ):
        settings = alert_settings(tmp_path, bot, smtp, max_per_minute=3, commands=False)
        desk = open_desk(settings)
        alerts = build_alerts(settings, desk.oms, desk.clock, lambda: "running", SECRETS_ENV)
        assert alerts is not None
        async with running(alerts):
            for _ in range(6):
                await buy(desk, "0.001")
            await alerts.router.drain(5.0)
            assert len([t for t in bot.messages_to(CHAT) if "FILL" in t]) == 3
            assert alerts.router.channels[0].limiter.dropped_total == 3
        desk.close()


def test_missing_bot_token_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(
        secrets=SecretsSettings(file=""),
        alerts=AlertsSettings(telegram=TelegramAlerts(enabled=True, chat_ids=[1])),
    )
    desk = open_desk(desk_settings(tmp_path))
    with pytest.raises(ValueError, match="STOM_ALERTS__TELEGRAM__BOT_TOKEN"):
        build_alerts(settings, desk.oms, desk.clock, lambda: "", {})
    desk.close()
