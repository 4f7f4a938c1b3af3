"""TLS context for mqtts:// brokers, shared by the engine and the app."""

from __future__ import annotations

import os
import ssl

from engine.config.settings import BusSettings


def make_tls_context(bus: BusSettings) -> ssl.SSLContext:
    """Verify the broker's certificate (system store or ``tls_ca_file``); TLS 1.2 or newer.

    ``tls_insecure`` skips only the hostname check, for brokers whose certificate names another
    host; the certificate itself is always verified.
    """
    cafile = os.path.expanduser(bus.tls_ca_file) if bus.tls_ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if bus.tls_cert_file:
        context.load_cert_chain(
            os.path.expanduser(bus.tls_cert_file),
            os.path.expanduser(bus.tls_key_file) if bus.tls_key_file else None,
        )
    if bus.tls_insecure:
        context.check_hostname = False
    return context
