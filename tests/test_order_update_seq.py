"""``OrderUpdate.seq`` is the journal's sequence number: it goes on increasing across a restart
(issue 12, finding 14). Before, each engine counted from 1, so a client de-duplicating by ``seq``
dropped the new engine's events."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.journal import Journal
from engine.protocol import trading as t
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

pytestmark = pytest.mark.integration


async def one_round(broker: Broker, namespace: str, data_dir: Path) -> list[t.OrderUpdate]:
    """Start an engine on ``data_dir``, buy, wait for the fill, stop it; its order events."""
    engine = EngineProcess(broker.url, namespace, data_dir=data_dir).start()
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 30)
            settings = Settings(bus=BusSettings(url=broker.url, namespace=namespace))
            async with RemoteEngine(settings, parse_broker_url(broker.url), None) as remote:
                reply = await remote.request(
                    "order.submit",
                    {"instrument": "KRW-BTC.SIM", "side": "buy", "type": "market",
                     "quantity": "0.001"},
                    timeout=5,
                )  # fmt: skip
            assert reply.status == "accepted", reply.reason
            topic = observer.topics.order_events

            def filled() -> bool:
                return any(u.event == "filled" for u in observer.all(topic, t.OrderUpdate))

            await observer.wait_for(filled, 15, "the fill")
            updates: list[t.OrderUpdate] = observer.all(topic, t.OrderUpdate)
    finally:
        engine.stop()
    return updates


async def test_order_update_seq_is_the_journal_seq_across_restarts(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    first = await one_round(mosquitto, namespace, tmp_path)
    second = await one_round(mosquitto, namespace, tmp_path)
    first_seqs = [u.seq for u in first]
    second_seqs = [u.seq for u in second]
    assert first_seqs == sorted(set(first_seqs)) and second_seqs == sorted(set(second_seqs))
    assert min(second_seqs) > max(first_seqs), (first_seqs, second_seqs)
    # And they are the journal's own numbers for those events.
    journals = list(tmp_path.rglob("*.sqlite")) + list(tmp_path.rglob("*.db"))
    assert len(journals) == 1, journals
    with Journal(journals[0]) as journal:
        stored = {seq: type(event).__struct_config__.tag for seq, event in journal.events()}
    for update in first + second:
        assert stored.get(update.seq) == update.event, (update.seq, update.event, stored)
