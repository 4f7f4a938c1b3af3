"""Building the alert router from settings and secrets, and its place in the engine's life."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Mapping

from engine.alerts.bot_commands import BotCommands
from engine.alerts.controls import OmsControls
from engine.alerts.email_sender import EmailSender
from engine.alerts.router import AlertRouter, Channel
from engine.alerts.rules import QuietHours, RateLimiter
from engine.alerts.sources import OmsAlerts
from engine.alerts.telegram import TelegramApi, TelegramSender
from engine.config.errors import ConfigError
from engine.config.secrets import load_secrets, secret_env_name
from engine.config.settings import Settings
from engine.domain.clock import Clock
from engine.oms.oms import Oms

log = logging.getLogger("stom.alerts")

TOKEN_KEY = "alerts.telegram.bot_token"
EMAIL_PASSWORD_KEY = "alerts.email.password"
DRAIN_S = 3.0
"""At shutdown, how long queued alerts (the 'stopping' one) may take to go out."""


class EngineAlerts:
    """The router, its sources and its channels, for one engine."""

    def __init__(self, router: AlertRouter, apis: list[TelegramApi]) -> None:
        self.router = router
        self._apis = apis

    def started(self, engine_id: str, oms: Oms) -> None:
        positions = sum(1 for position in oms.positions.values() if not position.is_flat)
        if oms.orders:
            text = (
                f"Engine {engine_id} restarted on {socket.gethostname()}: recovered"
                f" {len(oms.open)} open orders and {positions} open positions from the journal."
            )
        else:
            text = f"Engine {engine_id} started on {socket.gethostname()} (new journal)."
        self.router.submit("engine", text)

    async def run(self) -> None:
        await self.router.run()

    async def stopping(self, engine_id: str) -> None:
        self.router.submit("engine", f"Engine {engine_id} stopping.")
        await self.router.drain(DRAIN_S)

    async def died(self, engine_id: str, reason: str) -> None:
        """The engine is dying of a fault (docs/deploy.md, "When the engine dies")."""
        self.router.submit(
            "engine",
            f"Engine {engine_id} DIED on {socket.gethostname()}: {reason}. It exits with an"
            " error; a service restarts it.",
        )
        await self.router.drain(DRAIN_S)

    def previous_died(self, engine_id: str, reason: str | None) -> None:
        """The engine before this one ended without a clean stop (a kill -9 cannot alert)."""
        self.router.submit(
            "engine",
            f"The previous engine {engine_id} ended without a clean stop:"
            f" {reason or 'no reason known'}.",
        )

    async def close(self) -> None:
        for api in self._apis:
            with contextlib.suppress(Exception):
                await api.close()


def build_alerts(
    settings: Settings,
    oms: Oms,
    clock: Clock,
    engine_line: Callable[[], str],
    env: Mapping[str, str],
) -> EngineAlerts | None:
    """None when no channel is enabled. Raises ``ValueError`` when a channel lacks its secret."""
    alerts = settings.alerts
    if not (alerts.telegram.enabled or alerts.email.enabled):
        return None
    try:
        secrets = load_secrets(settings, env)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    namespace = settings.bus.namespace
    prefix = "" if namespace == "default" else f"[{namespace}] "
    router = AlertRouter([], QuietHours(alerts.rules), prefix=prefix)
    apis: list[TelegramApi] = []
    telegram = alerts.telegram
    if telegram.enabled:
        token = secrets.get(TOKEN_KEY)
        if not token:
            raise ValueError(
                _missing("[alerts.telegram] is enabled but has no bot token", TOKEN_KEY)
            )
        api = TelegramApi(
            telegram.api_url,
            token,
            ca_file=telegram.ca_file,
            poll_timeout_s=telegram.poll_timeout_s,
        )
        apis.append(api)
        router.channels.append(
            Channel(
                "telegram",
                TelegramSender(api, telegram.chat_ids),
                frozenset(telegram.events),
                RateLimiter(telegram.max_per_minute),
            )
        )
        if telegram.commands:
            bot = BotCommands(
                api,
                OmsControls(oms, clock, engine_line),
                telegram.chat_ids,
                poll_timeout_s=telegram.poll_timeout_s,
            )
            router.extra_tasks.append(bot.run)
    email = alerts.email
    if email.enabled:
        password = secrets.get(EMAIL_PASSWORD_KEY)
        if email.username and not password:
            raise ValueError(
                _missing("[alerts.email] has a username but no password", EMAIL_PASSWORD_KEY)
            )
        sender = EmailSender(email, password, subject_prefix=f"STOM {prefix}")
        router.channels.append(
            Channel("email", sender, frozenset(email.events), RateLimiter(email.max_per_minute))
        )
    OmsAlerts(oms, router)
    names = ", ".join(channel.name for channel in router.channels)
    log.info("alerts on: %s", names)
    return EngineAlerts(router, apis)


def _missing(what: str, key: str) -> str:
    section, _, name = key.rpartition(".")
    return (
        f"{what}: put [{section}] {name} in the secrets file (mode 0600) or set"
        f" {secret_env_name(key)}"
    )
