"""Parsing ``[bus] url``."""

from __future__ import annotations

import re

import pytest

from engine.config.broker_address import BrokerAddress, parse_broker_url


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "canonical"),
    [
        ("mqtt://127.0.0.1:1883", "mqtt", "127.0.0.1", 1883, "mqtt://127.0.0.1:1883"),
        ("mqtt://localhost", "mqtt", "localhost", 1883, "mqtt://localhost:1883"),
        ("mqtts://broker.example", "mqtts", "broker.example", 8883, "mqtts://broker.example:8883"),
        ("MQTTS://Broker.Example:9000/", "mqtts", "broker.example", 9000, None),
        ("mqtt://[::1]:1884", "mqtt", "::1", 1884, "mqtt://[::1]:1884"),
        ("mqtt://[::1]", "mqtt", "::1", 1883, "mqtt://[::1]:1883"),
        ("mqtt://my_broker:1", "mqtt", "my_broker", 1, "mqtt://my_broker:1"),
        ("mqtt://h:65535", "mqtt", "h", 65535, "mqtt://h:65535"),
    ],
)
def test_valid_urls(url: str, scheme: str, host: str, port: int, canonical: str | None) -> None:
    address = parse_broker_url(url)
    assert (address.scheme, address.host, address.port) == (scheme, host, port)
    assert address.tls is (scheme == "mqtts")
    assert str(address) == (canonical or f"{scheme}://{host}:{port}")
    assert parse_broker_url(str(address)) == address


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://x", "broker URL must be mqtt://host:port or mqtts://host:port"),
        ("ws://x:80", "broker URL must be mqtt://host:port or mqtts://host:port"),
        ("127.0.0.1:1883", "broker URL must be mqtt://host:port or mqtts://host:port"),
        ("", "broker URL must be mqtt://host:port or mqtts://host:port"),
        ("mqtt://", "the host is missing"),
        ("mqtt://:1883", "the host is missing"),
        ("mqtt://h:0", "must be a number from 1 to 65535"),
        ("mqtt://h:65536", "must be a number from 1 to 65535"),
        ("mqtt://h:abc", "must be a number from 1 to 65535"),
        ("mqtt://h:", "must be a number from 1 to 65535"),
        ("mqtt://h:+1", "must be a number from 1 to 65535"),
        ("mqtt://bob:pw@h:1883", "put the username in [bus] username and the password in"),
        ("mqtt://bob@h", "must not contain a user name or password"),
        ("mqtt://h:1883/topic", "without a path, query or fragment"),
        ("mqtt://h:1883?x=1", "without a path, query or fragment"),
        ("mqtt://h#frag", "without a path, query or fragment"),
        ("mqtt://::1:1883", "must be in brackets"),
        ("mqtt://[::1:1883", "unclosed"),
        ("mqtt://[nothost]:1", "is not an IPv6 address"),
        ("mqtt://[::1]x", "unexpected"),
        ("mqtt://bad host:1", "is not a valid host name"),
        ("mqtt://-h:1", "is not a valid host name"),
    ],
)
def test_invalid_urls(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        parse_broker_url(url)
    # The caller prefixes where the URL came from (redacted); the reason must not repeat it.
    assert "bob:pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("broker.example", False),
        ("localhost.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert BrokerAddress("mqtt", host, 1883, tls=False).is_loopback is loopback
