"""The bus ``log`` topic is scrubbed of secrets like the log file (issue 12, finding 17).

A client puts a secret value where the engine logs it (a refused command's ``reply_to``): the
line reaches the console's log topic with ``***`` in its place, as it reaches the file. Before,
the file was scrubbed and the bus carried the secret to every console on the broker.
"""

from __future__ import annotations

from pathlib import Path

import aiomqtt
import pytest

from engine.protocol import payloads as p
from engine.protocol.codec import encode
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration

SECRET = "tok-5f2c9e1ab7d04c3e"


async def test_the_bus_log_is_scrubbed_like_the_file(mosquitto: Broker, tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'[alerts.telegram]\nbot_token = "{SECRET}"\n')
    secrets_file.chmod(0o600)
    log_file = tmp_path / "engine-file.log"
    namespace = unique_namespace()
    extra = ["--set", f"secrets.file={secrets_file}", "--set", f"engine.log_file={log_file}"]
    engine = EngineProcess(mosquitto.url, namespace, data_dir=tmp_path, extra=extra).start()
    try:
        async with Observer(mosquitto.host, mosquitto.port, namespace) as observer:
            await observer.wait_status("running", 30)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
                command = p.Command(id="c1", type="ping", reply_to=f"x/{SECRET}", args={})
                await client.publish(observer.topics.commands, encode(command), qos=1)

            def refused() -> list[p.LogEvent]:
                events = observer.all(observer.topics.log, p.LogEvent)
                return [e for e in events if "rejected command 'c1'" in e.message]

            lines = await observer.wait_for(refused, 10, "the refusal on the bus log")
    finally:
        engine.stop()
    assert "x/***" in lines[0].message
    raw = b"".join(observer.messages.get(observer.topics.log, []))
    assert SECRET.encode() not in raw
    file_text = log_file.read_text()
    assert "rejected command 'c1'" in file_text and SECRET not in file_text
