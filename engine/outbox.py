"""The bus outbox: latest state per topic (conflated) and ordered events (not conflated).

The hot path and the publishers only put bytes here; the bus flushes it at a fixed rate. A slow or
absent broker therefore never slows trading: state keeps only its newest value per topic, and
events wait in a bounded queue (the oldest are dropped and counted if the broker is gone for long;
the journal, not the bus, is the record of what happened).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from engine.protocol.codec import encode
from engine.protocol.payloads import Payload
from engine.protocol.table import SPEC_OF_PAYLOAD


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    data: bytes
    qos: int
    retain: bool


class Outbox:
    """Conflating state map plus an ordered, bounded event queue."""

    def __init__(self, max_events: int = 20_000) -> None:
        self._states: dict[str, Outgoing] = {}
        self._events: deque[Outgoing] = deque()
        self._max_events = max_events
        self._retained: dict[str, Outgoing] = {}
        self.events_dropped = 0
        self.states_conflated = 0

    def publish(self, topic: str, payload: Payload) -> None:
        """Queue ``payload`` for ``topic`` as the protocol table says: conflated state or an
        ordered event, with the table's QoS and retain flag (engine/protocol/table.py)."""
        spec = SPEC_OF_PAYLOAD[type(payload)]
        path = topic.split("/", 2)[-1]
        if not path.startswith(spec.path.split("{", 1)[0]):
            raise ValueError(f"{type(payload).__name__} does not travel on {topic}")
        if spec.delivery == "state":
            self.put_state(topic, encode(payload), retain=spec.retained, qos=spec.qos)
        else:
            self.put_event(topic, encode(payload), qos=spec.qos, retain=spec.retained)

    def put_state(self, topic: str, data: bytes, *, retain: bool = True, qos: int = 0) -> None:
        """Replace any pending value for ``topic``."""
        if topic in self._states:
            self.states_conflated += 1
        self._states[topic] = Outgoing(topic, data, qos, retain)

    def put_event(self, topic: str, data: bytes, *, qos: int = 1, retain: bool = False) -> None:
        if len(self._events) >= self._max_events:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(Outgoing(topic, data, qos, retain))

    def take(self) -> list[Outgoing]:
        """Everything pending: events in order, then the latest state per topic."""
        out = list(self._events)
        self._events.clear()
        if self._states:
            out.extend(self._states.values())
            self._states.clear()
        return out

    def sent(self, message: Outgoing) -> None:
        """Remember retained state, to restore it on a broker that lost it (restart)."""
        if message.retain:
            self._retained[message.topic] = message

    def restore_retained(self) -> None:
        """After a reconnect: queue the last retained value of every topic not already pending."""
        for topic, message in self._retained.items():
            self._states.setdefault(topic, message)

    def requeue(self, messages: list[Outgoing]) -> None:
        """Put back what could not be sent (the connection dropped mid-flush), keeping order."""
        events = [m for m in messages if not m.retain and m.topic not in self._states]
        for message in messages:
            if message.retain:
                self._states.setdefault(message.topic, message)
        self._events.extendleft(reversed(events))
        while len(self._events) > self._max_events:
            self._events.popleft()
            self.events_dropped += 1

    def __len__(self) -> int:
        return len(self._events) + len(self._states)
