"""The questions of ``stom init`` and what each answer changes.

The flow only collects changes: config edits (a key path and a value) and secrets (a section,
a key and a value). ``config_edit.py`` applies them to the file and validates the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.config.alert_settings import parse_quiet_hours
from engine.config.broker_address import parse_broker_url
from engine.config.settings import Settings
from engine.setup.answers import Answers, WizardAborted

REAL_VENUES: dict[str, tuple[str, tuple[str, str], str]] = {
    # name: (quote currency, the two credentials in the secrets file, example symbols)
    "upbit": ("KRW", ("access_key", "secret_key"), "KRW-BTC, KRW-ETH"),
    "binance": ("USDT", ("api_key", "api_secret"), "BTCUSDT, ETHUSDT"),
    "kiwoom": ("KRW", ("app_key", "secret_key"), "005930, 000660"),
}
FEED_NEEDS_KEYS = frozenset({"kiwoom"})
"""Venues whose market data feed needs the keys even on paper."""


@dataclass
class Plan:
    """What the answers change."""

    config: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)
    secrets: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def set(self, *path_and_value: Any) -> None:
        *path, value = path_and_value
        self.config.append((tuple(path), value))

    def secret(self, section: str, key: str, value: str) -> None:
        if value:
            self.secrets.append((section, key, value))


class Wizard:
    """Asks the questions in order; a bad answer is asked again (terminal) or stops (script)."""

    def __init__(self, answers: Answers, current: Settings, *, has_venues: bool) -> None:
        self.answers = answers
        self.current = current
        self.has_venues = has_venues
        self.plan = Plan()

    def ask(self, key: str, prompt: str, default: str, check: Callable[[str], Any]) -> Any:
        while True:
            text = self.answers.ask(key, prompt, default)
            try:
                return check(text)
            except ValueError as exc:
                if not self.answers.interactive:
                    raise WizardAborted(f"answer {key} = {text!r}: {exc}") from None
                print(f"  {exc}; try again")

    def run(self) -> Plan:
        venues = self.ask_venues()
        live = self.ask(
            "mode", "Paper or live trading (paper, live)", "paper", _choice("paper", "live")
        )
        self.ask_instruments(venues, live == "live")
        currencies = {REAL_VENUES[v][0] for v in venues if v in REAL_VENUES}
        if "sim" in venues:
            currencies.add("KRW")  # the simulator's instruments trade in KRW
        self.ask_risk(sorted(currencies))
        self.ask_broker()
        self.ask_alerts()
        return self.plan

    # --- sections ----------------------------------------------------------------------------

    def ask_venues(self) -> list[str]:
        known = ["sim", *REAL_VENUES] if self.has_venues else ["sim"]
        current = ["sim"] if self.current.sim.enabled else []
        if self.has_venues:
            current += [v for v in REAL_VENUES if getattr(self.current.venues, v).enabled]
        venues = self.ask(
            "venues",
            f"Venues ({', '.join(known)}; comma separated)",
            ", ".join(current) or "sim",
            _subset(known, allow_empty=False),
        )
        self.plan.set("sim", "enabled", "sim" in venues)
        if self.has_venues:
            for venue in REAL_VENUES:
                self.plan.set("venues", venue, "enabled", venue in venues)
        return venues

    def ask_instruments(self, venues: list[str], live: bool) -> None:
        if "sim" in venues:
            symbols = self.ask(
                "sim_instruments",
                "Simulator instruments (see `stom sim list`)",
                ", ".join(self.current.sim.instruments),
                _list(),
            )
            self.plan.set("sim", "instruments", symbols)
        if live and venues == ["sim"]:
            self.plan.notes.append("the simulator is always paper: live applies to real venues")
        for venue in (v for v in venues if v in REAL_VENUES):
            _currency, keys, example = REAL_VENUES[venue]
            existing = getattr(self.current.venues, venue).symbols
            symbols = self.ask(
                f"{venue}_symbols",
                f"{venue.capitalize()} symbols",
                ", ".join(existing) or example,
                _list(),
            )
            self.plan.set("venues", venue, "symbols", symbols)
            self.plan.set("venues", venue, "mode", "live" if live else "paper")
            if live or venue in FEED_NEEDS_KEYS:
                for key in keys:
                    value = self.answers.ask_secret(f"{venue}_{key}", f"{venue.capitalize()} {key}")
                    self.plan.secret(venue, key, value)

    def ask_risk(self, currencies: list[str]) -> None:
        risk = self.current.risk
        limits: dict[str, dict[str, str]] = {
            name: dict(getattr(risk, name))
            for name in (
                "max_order_notional",
                "max_position_notional",
                "max_gross_exposure",
                "daily_loss_limit",
                "max_drawdown",
            )
        }
        for currency in currencies:
            order = self.ask(
                f"max_order_{currency.lower()}",
                f"Largest single order, in {currency}",
                limits["max_order_notional"].get(
                    currency, "1000000" if currency == "KRW" else "1000"
                ),
                _amount,
            )
            loss = self.ask(
                f"daily_loss_{currency.lower()}",
                f"Daily loss that trips the kill switch, in {currency}",
                limits["daily_loss_limit"].get(currency, str(Decimal(order) / 2)),
                _amount,
            )
            limits["max_order_notional"][currency] = order
            limits["daily_loss_limit"][currency] = loss
            # Every money limit needs the currency, or its instruments cannot trade: derive the
            # ones not asked for, if missing, and say so.
            for name, factor, base in (
                ("max_position_notional", 2, order),
                ("max_gross_exposure", 6, order),
                ("max_drawdown", 2, loss),
            ):
                if currency not in limits[name]:
                    limits[name][currency] = str(Decimal(base) * factor)
                    self.plan.notes.append(
                        f"[risk] {name} {currency} set to {limits[name][currency]}"
                        f" ({factor} x your answer); edit config.toml to change it"
                    )
        for name, values in limits.items():
            self.plan.set("risk", name, values)
        open_orders = self.ask(
            "max_open_orders",
            "Open orders allowed at once",
            str(risk.max_open_orders),
            _int(1, 10_000),
        )
        self.plan.set("risk", "max_open_orders", open_orders)

    def ask_broker(self) -> None:
        bus = self.current.bus
        remote_now = not parse_broker_url(bus.url).is_loopback
        where = self.ask(
            "broker",
            "MQTT broker: local (embedded, this machine only) or remote (Mosquitto/EMQX)",
            "remote" if remote_now else "local",
            _choice("local", "remote"),
        )
        if where == "local":
            self.plan.set("bus", "url", "mqtt://127.0.0.1:1883")
            self.plan.set("bus", "embedded", True)
            self.plan.set("bus", "username", "")
            return
        url = self.ask(
            "broker_url",
            "Broker URL (mqtts://host:8883 for TLS)",
            bus.url if remote_now else "mqtts://localhost:8883",
            _broker_url,
        )
        self.plan.set("bus", "url", url)
        self.plan.set("bus", "embedded", False)
        username = self.ask("broker_username", "Broker user name", bus.username or "stom", _text)
        self.plan.set("bus", "username", username)
        self.plan.secret(
            "bus", "password", self.answers.ask_secret("broker_password", "Broker password")
        )
        ca = self.ask(
            "broker_ca_file", "CA file for the broker's certificate (empty: system store)",
            bus.tls_ca_file, _text,
        )  # fmt: skip
        self.plan.set("bus", "tls_ca_file", ca)
        if url.startswith("mqtt://"):
            self.plan.notes.append(
                "the broker URL is mqtt:// (no TLS): the password crosses the network in clear"
            )

    def ask_alerts(self) -> None:
        alerts = self.current.alerts
        current = [name for name in ("telegram", "email") if getattr(alerts, name).enabled]
        channels = self.ask(
            "alerts",
            "Alert channels (telegram, email; comma separated; none)",
            ", ".join(current) or "none",
            _subset(["telegram", "email"], allow_empty=True),
        )
        self.plan.set("alerts", "telegram", "enabled", "telegram" in channels)
        self.plan.set("alerts", "email", "enabled", "email" in channels)
        if "telegram" in channels:
            chats = self.ask(
                "telegram_chat_ids",
                "Telegram chat ids allowed to get alerts and send commands",
                ", ".join(str(c) for c in alerts.telegram.chat_ids),
                _chat_ids,
            )
            self.plan.set("alerts", "telegram", "chat_ids", chats)
            token = self.answers.ask_secret("telegram_bot_token", "Telegram bot token")
            self.plan.secret("alerts.telegram", "bot_token", token)
        if "email" in channels:
            email = alerts.email
            for key, prompt, default, check in (
                ("smtp_host", "SMTP server", email.smtp_host, _required),
                ("smtp_port", "SMTP port (587: STARTTLS)", str(email.smtp_port), _int(1, 65535)),
                ("username", "SMTP user name (empty: no login)", email.username, _text),
                ("sender", "From address", email.sender, _address),
                ("recipients", "Send alerts to (comma separated)", ", ".join(email.recipients),
                 _addresses),
            ):  # fmt: skip
                self.plan.set(
                    "alerts", "email", key, self.ask(f"email_{key}", prompt, default, check)
                )
            password = self.answers.ask_secret("email_password", "SMTP password")
            self.plan.secret("alerts.email", "password", password)
        if channels:
            quiet = self.ask(
                "quiet_hours",
                "Quiet hours, HH:MM-HH:MM (only risk and engine alerts then; empty: none)",
                alerts.rules.quiet_hours,
                _quiet,
            )
            self.plan.set("alerts", "rules", "quiet_hours", quiet)


# --- answer checks: text in, the value to write out (ValueError says what is wrong) ---------


def _text(text: str) -> str:
    return text.strip()


def _required(text: str) -> str:
    if not text.strip():
        raise ValueError("an answer is needed")
    return text.strip()


def _choice(*choices: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return check


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _list() -> Callable[[str], list[str]]:
    def check(text: str) -> list[str]:
        items = _split(text)
        if not items:
            raise ValueError("expected at least one, comma separated")
        return list(dict.fromkeys(items))

    return check


def _subset(known: list[str], *, allow_empty: bool) -> Callable[[str], list[str]]:
    def check(text: str) -> list[str]:
        items = [item.lower() for item in _split(text) if item.lower() != "none"]
        unknown = [item for item in items if item not in known]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)} (choose from {', '.join(known)})")
        if not items and not allow_empty:
            raise ValueError(f"choose at least one of {', '.join(known)}")
        return [item for item in known if item in items]

    return check


def _amount(text: str) -> str:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ValueError("expected an amount such as 1000000") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("expected an amount more than 0")
    return format(value.normalize(), "f")


def _int(low: int, high: int) -> Callable[[str], int]:
    def check(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return int(text)

    return check


def _broker_url(text: str) -> str:
    parse_broker_url(text.strip())
    return text.strip()


def _chat_ids(text: str) -> list[int]:
    items = _split(text)
    if not items or not all(item.lstrip("-").isdigit() for item in items):
        raise ValueError("expected chat ids (numbers, e.g. 123456789), comma separated")
    return [int(item) for item in items]


def _address(text: str) -> str:
    value = text.strip()
    if "@" not in value or " " in value:
        raise ValueError("expected an email address such as stom@example.com")
    return value


def _addresses(text: str) -> list[str]:
    items = _split(text)
    if not items:
        raise ValueError("expected at least one email address")
    return [_address(item) for item in items]


def _quiet(text: str) -> str:
    parse_quiet_hours(text)
    return text.strip()
