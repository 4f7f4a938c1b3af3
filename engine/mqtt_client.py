"""Building aiomqtt clients from settings (one place for auth and TLS, engine and CLI)."""

from __future__ import annotations

import socket

import aiomqtt

from engine.broker_auth import broker_username
from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import BusSettings
from engine.config.tls import make_tls_context

NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""paho leaves Nagle on: a command's PUBLISH then waits ~40 ms on the peer's delayed ACK."""


def mqtt_client(
    bus: BusSettings,
    address: BrokerAddress,
    password: Secret | None,
    *,
    identifier: str,
    will: aiomqtt.Will | None = None,
    keepalive: int | None = None,
    timeout: float = 5.0,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        address.host,
        address.port,
        identifier=identifier,
        username=broker_username(bus, password),
        password=password.reveal() if password is not None else None,
        will=will,
        keepalive=keepalive if keepalive is not None else bus.keepalive_s,
        tls_context=make_tls_context(bus) if address.tls else None,
        timeout=timeout,
        clean_session=True,
        socket_options=NO_DELAY,
    )


def describe_mqtt_error(exc: BaseException, address: BrokerAddress) -> str:
    """A user-facing sentence for a connection failure (never includes credentials)."""
    text = str(exc)
    lowered = text.lower()
    if "not authori" in lowered or "bad user name or password" in lowered or "code:5" in lowered:
        return f"the MQTT broker at {address} refused the username or password"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS to the MQTT broker at {address} failed: {text}"
    return f"cannot reach the MQTT broker at {address}: {text}"
