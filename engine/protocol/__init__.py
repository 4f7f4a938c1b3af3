"""The MQTT contract between the engine and its clients: topics, payload schemas, codec.

Pure (no I/O). The app imports this package and :mod:`engine.domain`, nothing else of the engine.
Every topic is documented in ``docs/protocol.md``.
"""

from engine.protocol.payloads import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION"]
