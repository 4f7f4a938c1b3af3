"""The broker address in ``[bus] url``: ``mqtt://host:port`` or ``mqtts://host:port`` (TLS)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_PORTS: dict[str, int] = {"mqtt": 1883, "mqtts": 8883}
"""The IANA ports for MQTT and MQTT over TLS, used when the URL gives none."""

_URL_SHAPE = "broker URL must be mqtt://host:port or mqtts://host:port"
# Host names as in RFC 1123, plus '_' because container and compose service names use it.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


@dataclass(frozen=True)
class BrokerAddress:
    """Where the MQTT broker listens; ``str()`` gives the canonical ``scheme://host:port``."""

    scheme: Literal["mqtt", "mqtts"]
    host: str
    """A host name (lower case), an IPv4 address, or an IPv6 address without brackets."""
    port: int
    tls: bool

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost``, 127.0.0.0/8 and ``::1`` (the embedded broker's only homes)."""
        if self.host.rstrip(".").lower() == "localhost":
            return True
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]``.

    Raises ``ValueError`` with a message that does not repeat the URL (the caller says where it
    came from); credentials in the URL are refused because URLs end up in logs and screens.
    """
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        raise ValueError(_URL_SHAPE)
    netloc_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    if "@" in netloc:
        raise ValueError(
            "the broker URL must not contain a user name or password: put the username in"
            " [bus] username and the password in STOM_BUS__PASSWORD or the secrets file"
        )
    if tail not in ("", "/"):
        raise ValueError(f"{_URL_SHAPE}, without a path, query or fragment")
    host, port_text = _split_host_port(netloc)
    port = _parse_port(port_text) if port_text is not None else DEFAULT_PORTS[scheme]
    tls = scheme == "mqtts"
    return BrokerAddress(scheme="mqtts" if tls else "mqtt", host=host, port=port, tls=tls)


def _split_host_port(netloc: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` / ``[v6][:port]``; the port text is None when there is no colon."""
    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            raise ValueError("the broker URL has an unclosed '[' around an IPv6 address")
        host, after = netloc[1:close], netloc[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise ValueError(f"{_URL_SHAPE} (unexpected {after!r} after the address)")
        return host, (after[1:] if after else None)
    if netloc.count(":") > 1:
        raise ValueError("an IPv6 broker address must be in brackets, e.g. mqtt://[::1]:1883")
    host, colon, port_text = netloc.partition(":")
    if not host:
        raise ValueError(f"{_URL_SHAPE}: the host is missing")
    if not _HOSTNAME_RE.match(host):
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    return host.lower(), (port_text if colon else None)


def _parse_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError(f"broker port {text!r} must be a number from 1 to 65535")
    return int(text)
