"""Back-pressure: the simulator never falls further behind without limit (issue 12, finding 5).

Driven by the wall clock at a rate the engine could not process, the simulator used to generate
every event up to now in one go: each turn had more to do than the last, nothing else ran
(192 s without an answer at ``sim.rate=1000000``) and memory grew to 3 GB. The pacer
(``engine/sim/pacing.py``) bounds the simulated time one turn covers and skips ahead, counting
the events it never generated, when the simulator is more than a second behind; the lag and the
drop counter are published in ``engine/stats``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.config.validation import MAX_SIM_RATE
from engine.domain.market_data import MarketBatch
from engine.market_state import MarketState
from engine.protocol import payloads as p
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.sim.pacing import MAX_LAG_S, SimPacer
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

SYMBOLS = ["KRW-BTC", "KRW-ETH", "005930"]
START_NS = 1_700_000_000_000_000_000
STEP_NS = 5_000_000


def simulator(rate: float) -> MarketSimulator:
    instruments = [sim_instrument(symbol) for symbol in SYMBOLS]
    market = MarketState(trade_ring=256, bar_history=10)
    indexes = [market.add(instrument) for instrument in instruments]
    return MarketSimulator(instruments, indexes, seed=11, rate=rate, start_ns=START_NS)


def events(batch: MarketBatch) -> list[tuple[int, ...]]:
    return list(
        zip(batch.kind, batch.instrument, batch.ts_event, batch.price, batch.size, strict=True)
    )


def test_below_capacity_the_paced_sequence_is_the_unpaced_one() -> None:
    direct, paced = simulator(2_000), simulator(2_000)
    pacer = SimPacer(paced)
    expected, got = MarketBatch(), MarketBatch()
    for turn in range(1, 401):  # two seconds of 5 ms turns, each on time
        now = START_NS + turn * STEP_NS
        direct.step(now, expected)
        paced.step(pacer.target(now), got)
        pacer.turn_done(now)
    assert events(got) == events(expected) and len(got.kind) > 2_000
    assert pacer.dropped_events == 0 and pacer.skips == 0 and pacer.lag_ns == 0


def test_a_turn_is_bounded_and_a_simulator_far_behind_skips_ahead_counting_the_drop() -> None:
    rate = 100_000.0
    sim = simulator(rate)
    pacer = SimPacer(sim, max_turn_events=2_000)
    before = MarketBatch()
    sim.step(START_NS + STEP_NS, before)
    # A turn 200 ms late (a slow turn): it covers at most 2,000 events' worth of time.
    now = START_NS + 200_000_000
    batch = MarketBatch()
    target = pacer.target(now)
    assert target == START_NS + STEP_NS + 20_000_000
    sim.step(target, batch)
    pacer.turn_done(now)
    assert 500 <= len(batch.kind) <= 10_000
    assert pacer.lag_ns == now - target and pacer.dropped_events == 0
    # Ten seconds late (the process was stopped): it skips ahead instead of generating them.
    last_ts = batch.ts_event[-1]
    now += 10_000_000_000
    began = time.perf_counter()
    target = pacer.target(now)
    assert time.perf_counter() - began < 0.05
    assert target == now == sim.now_ns
    behind = now - (START_NS + STEP_NS + 20_000_000)
    assert pacer.skips == 1 and pacer.skipped_ns == behind
    assert pacer.dropped_events == round(rate * behind / 1e9)
    # The market goes on from where it was, stamped later: in order, nothing replayed.
    batch.clear()
    now += 50_000_000
    sim.step(pacer.target(now), batch)
    pacer.turn_done(now)
    assert batch.kind and min(batch.ts_event) > last_ts
    assert min(batch.ts_event) > now - 50_000_000 - 1
    assert batch.ts_event == sorted(batch.ts_event)
    assert pacer.max_lag_seen_ns == behind
    assert pacer.lag_percentile_ns(0.99) <= behind


# --- through the engine subprocess ------------------------------------------------------------


@pytest.fixture
def namespace() -> str:
    return unique_namespace()


@pytest.fixture
def engine(mosquitto: Broker, namespace: str) -> Iterator[EngineProcess]:
    process = EngineProcess(mosquitto.url, namespace, rate=int(MAX_SIM_RATE), keepalive=5)
    yield process.start()
    process.stop()


@pytest.fixture
async def observer(mosquitto: Broker, namespace: str) -> AsyncIterator[Observer]:
    async with Observer(mosquitto.host, mosquitto.port, namespace) as watching:
        yield watching


async def ping_times(remote: RemoteEngine, seconds: float) -> list[float]:
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        reply = await remote.request("ping", timeout=5.0)
        assert reply.status == "accepted"
        times.append(time.monotonic() - began)
        await asyncio.sleep(0.2)
    return times


@pytest.mark.integration
async def test_engine_at_the_maximum_rate_answers_stays_bounded_and_reports_lag_and_drops(
    mosquitto: Broker, namespace: str, engine: EngineProcess, observer: Observer
) -> None:
    await observer.wait_status("running")
    stats_topic = observer.topics.stats

    def stats() -> list[p.EngineStats]:
        return observer.all(stats_topic, p.EngineStats)

    await observer.wait_for(lambda: len(stats()) >= 2, what="two heartbeats")
    rss_start = stats()[-1].rss_bytes
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace, keepalive_s=5))
    async with RemoteEngine(settings, parse_broker_url(mosquitto.url), None) as remote:
        # At the documented maximum: every ping answered promptly.
        times = await ping_times(remote, 4.0)
        assert max(times) < 1.0, times
        # Stopped for 3 s (a suspended VM, a debugger): on waking it skips ahead, counting the
        # skipped events, instead of generating three seconds of them in one go.
        # (On a loaded machine it may have dropped some already: count from here.)
        dropped_before = stats()[-1].sim_dropped
        engine.signal(signal.SIGSTOP)
        await asyncio.sleep(3.0)
        engine.signal(signal.SIGCONT)
        began = time.monotonic()
        reply = await remote.request("ping", timeout=5.0)
        assert reply.status == "accepted" and time.monotonic() - began < 1.0
        after = await observer.wait_for(
            lambda: next(
                (s for s in reversed(stats()) if s.sim_dropped - dropped_before > MAX_SIM_RATE),
                None,
            ),
            what="a heartbeat with the drop counted",
        )
        assert after.sim_dropped - dropped_before >= 2.0 * MAX_SIM_RATE
        assert after.sim_lag_max_ms >= 2_000
        times = await ping_times(remote, 2.0)
        assert max(times) < 1.0, times
    # It caught up: the lag is back under the bound and memory did not grow with the backlog.
    latest = stats()[-1]
    assert latest.sim_lag_ms <= MAX_LAG_S * 1000 + 500, latest
    assert latest.ticks_per_s > 0
    assert latest.rss_bytes - rss_start < 60 * 2**20, (rss_start, latest.rss_bytes)
